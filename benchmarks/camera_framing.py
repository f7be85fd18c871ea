"""How well the cameras frame each env's scene at the dataset's default 64 px. Prints a table and writes JSON.

Per env and camera, over ``--seeds`` scenes (half in space A, half in space B), on the first frame
and on the last frame of an episode (the expert for BlockStack envs, random actions for puzzles):
the share of pixels that show nothing (no geom: the black background), the share of image rows
that are background from edge to edge, the mean pixel count of an object in view and the share of
objects with no pixel at all. Then the tallest tower: six of the largest space-B cubes stacked at
the workspace centre and at each corner, with the share of towers whose top face projects inside
the image and the top cube's mean pixel count.

    MUJOCO_GL=egl python benchmarks/camera_framing.py --out runs/bench/camera_framing.json
"""

from __future__ import annotations

import argparse
import platform
from datetime import datetime, timezone

import gymnasium as gym
import mujoco
import numpy as np

import foretell.envs  # noqa: F401 - registers the envs
from foretell.envs.measure.episodes import make_policy
from foretell.envs.registry import BLOCKSTACK_IDS, PUZZLE_IDS, SCENARIO_IDS
from foretell.envs.sim.cameras import TOWER_LEVELS, project
from foretell.envs.sim.observations import CAMERAS
from foretell.envs.sim.properties import SPACE_B
from foretell.envs.sim.scene import WORKSPACE_HALF, ObjectSpec, build_scene
from foretell.runtime import atomic_write_json

MAX_LOW_LEVEL_STEPS = 150  # a low-level expert episode runs hundreds of ticks; 6 s of it shows the motion


def geom_ids(model: mujoco.MjModel, data: mujoco.MjData, camera: str, size: int) -> np.ndarray:
    """Geom id per pixel ``(S, S)``; -1 where no geom is hit (the background)."""
    with mujoco.Renderer(model, size, size) as renderer:
        renderer.enable_segmentation_rendering()
        renderer.update_scene(data, camera)
        raw = renderer.render()
    return np.where(raw[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), raw[..., 0], -1)


def frame_stats(model, data, geom_to_object: np.ndarray, present: np.ndarray, camera: str, size: int) -> dict:
    ids = geom_ids(model, data, camera, size)
    objects = np.where(ids >= 0, geom_to_object[np.maximum(ids, 0)], -1)
    counts = np.array([(objects == k).sum() for k in np.flatnonzero(present)])
    return {"background": float((ids < 0).mean()), "background_rows": float((ids < 0).all(axis=1).mean()),
            "pixels_per_object": float(counts[counts > 0].mean()) if (counts > 0).any() else 0.0,
            "unseen": float((counts == 0).mean())}


def env_frames(env_id: str, seeds: int, size: int) -> dict:
    """Statistics of first and last frames per camera, averaged over scenes."""
    env = gym.make(env_id, obs_keys=("state",))
    rows: dict[str, list[dict]] = {c: [] for c in CAMERAS}
    for seed in range(seeds):
        env.reset(seed=seed, options={"space": "AB"[seed % 2]})
        base = env.unwrapped
        act = make_policy(env, "auto", seed)
        for moment in ("first", "last"):
            if moment == "last":
                done, steps = False, 0
                while not done and steps < MAX_LOW_LEVEL_STEPS:
                    _, _, term, trunc, _ = env.step(act())
                    done, steps = term or trunc, steps + 1
            model, data, geom_to_object = base._render_source()
            for camera in CAMERAS:
                rows[camera].append(frame_stats(model, data, geom_to_object, base.present, camera, size))
    env.close()
    return {c: {k: float(np.mean([r[k] for r in v])) for k in v[0]} for c, v in rows.items()}


def tower_in_view(size: int) -> dict:
    """Six of the largest space-B cubes stacked at the centre and at each workspace corner: does the
    top face stay in view, and how many pixels does the top cube cover?"""
    half = SPACE_B.cube_half[1]
    out = {c: {"top_in_view": [], "top_cube_pixels": []} for c in CAMERAS}
    for x, y in [(0.0, 0.0)] + [(sx * WORKSPACE_HALF, sy * WORKSPACE_HALF) for sx in (-1, 1) for sy in (-1, 1)]:
        cubes = [ObjectSpec(name=f"cube{k}", shape="cube", color="gray", size=(half,), mass=0.1, friction=0.8,
                            restitution=0.0, pos=(x, y, (2 * k + 1) * half)) for k in range(TOWER_LEVELS)]
        scene = build_scene(cubes, image_size=size)
        data = mujoco.MjData(scene.model)
        mujoco.mj_forward(scene.model, data)
        top = 2 * TOWER_LEVELS * half
        face = np.array([[x + dx, y + dy, top] for dx in (-half, half) for dy in (-half, half)])
        for camera in CAMERAS:
            uv = project(scene.model, data, camera, face, size)
            out[camera]["top_in_view"].append(bool(np.all((uv >= 0) & (uv <= size))))
            ids = geom_ids(scene.model, data, camera, size)
            out[camera]["top_cube_pixels"].append(int((ids == scene.model.geom(f"cube{TOWER_LEVELS - 1}_geom").id).sum()))
    return {c: {"top_in_view": float(np.mean(v["top_in_view"])), "top_cube_pixels": float(np.mean(v["top_cube_pixels"]))}
            for c, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args()
    envs = {env_id: env_frames(env_id, args.seeds, args.size) for env_id in (*BLOCKSTACK_IDS, *SCENARIO_IDS, *PUZZLE_IDS)}
    tower = tower_in_view(args.size)
    print(f"{'env':34} {'camera':6} {'background':>10} {'bg rows':>8} {'px/object':>10} {'unseen':>7}")
    for env_id, by_camera in envs.items():
        for camera, s in by_camera.items():
            print(f"{env_id:34} {camera:6} {s['background']:10.1%} {s['background_rows']:8.1%} "
                  f"{s['pixels_per_object']:10.1f} {s['unseen']:7.1%}")
    for camera, s in tower.items():
        print(f"tallest tower ({TOWER_LEVELS} cubes), {camera}: top in view {s['top_in_view']:.0%} of 5 places, "
              f"top cube {s['top_cube_pixels']:.1f} px")
    if args.out:
        atomic_write_json(args.out, {"size": args.size, "seeds": args.seeds, "envs": envs, "tallest_tower": tower,
                                     "machine": platform.platform(), "processor": platform.processor(),
                                     "date": datetime.now(timezone.utc).isoformat(timespec="seconds")})


if __name__ == "__main__":
    main()
