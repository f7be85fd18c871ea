"""Cost of causal ground truth per scenario episode: the factual rollout with the direct graph
(contact recording every physics step) against a bare rollout, and the but-for pass (one
re-simulation per object, plus the placebo re-simulation that flags chaotic episodes), for
every passive scenario. Prints a table and writes JSON.

    MUJOCO_GL=egl python benchmarks/ground_truth.py --out runs/bench/ground_truth.json
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np

from foretell.envs import SCENARIO_IDS
from foretell.envs.sim.passive import FRAME_SUBSTEPS, PARK, simulate
from foretell.envs.sim.scene import build_scene
from foretell.runtime import atomic_write_json


def bare_rollout(objects, velocities, frames: int) -> None:
    """The same simulation with no recording at all (one nstep call per frame)."""
    scene = build_scene(objects)
    data = mujoco.MjData(scene.model)
    data.mocap_pos[scene.gripper_mocap] = PARK
    for name, vel in velocities.items():
        data.qvel.reshape(-1, 6)[scene.names.index(name), : len(vel)] = vel
    for _ in range(frames):
        mujoco.mj_step(scene.model, data, nstep=FRAME_SUBSTEPS)


def measure(env_id: str, space: str, episodes: int) -> dict:
    env = gym.make(env_id, space=space, obs_keys=("state",))
    bare = factual = but_for = 0.0
    objects_total = 0
    for seed in range(episodes):
        env.reset(seed=seed)
        u = env.unwrapped
        start = time.perf_counter()
        bare_rollout(u.initial_objects, u.initial_velocities, u.horizon)
        bare += time.perf_counter() - start
        start = time.perf_counter()
        rollout = simulate(u.initial_objects, u.initial_velocities, u.horizon)
        rollout.recorder.direct_graph(rollout.names)
        factual += time.perf_counter() - start
        start = time.perf_counter()
        u.ground_truth(but_for=True)
        but_for += time.perf_counter() - start
        objects_total += len(u.initial_objects)
    env.close()
    n = episodes
    return {"env": env_id, "space": space, "episodes": n, "mean_objects": objects_total / n,
            "bare_s": bare / n, "factual_with_direct_s": factual / n, "ground_truth_with_but_for_s": but_for / n,
            "direct_overhead_ratio": factual / bare, "but_for_over_factual": but_for / factual}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/ground_truth.json"))
    args = parser.parse_args()
    rows = [measure(env_id, space, args.episodes) for env_id in SCENARIO_IDS for space in ("A", "B")]
    print(f"{'env':22s} {'space':5s} {'objects':>7s} {'bare s':>8s} {'+direct s':>10s} {'ratio':>6s} "
          f"{'+but-for s':>11s} {'x factual':>9s}")
    for r in rows:
        print(f"{r['env']:22s} {r['space']:5s} {r['mean_objects']:7.1f} {r['bare_s']:8.3f} "
              f"{r['factual_with_direct_s']:10.3f} {r['direct_overhead_ratio']:6.2f} "
              f"{r['ground_truth_with_but_for_s']:11.3f} {r['but_for_over_factual']:9.2f}")
    atomic_write_json(args.out, {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "machine": platform.platform(), "mujoco": mujoco.__version__, "rows": rows,
                                 "mean_but_for_over_factual": float(np.mean([r["but_for_over_factual"] for r in rows]))})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
