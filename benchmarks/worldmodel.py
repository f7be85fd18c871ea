"""World-model speed against the simulator on the same work, measured in the same run.

- imagined transitions/s of the object diffusion model (default config, 4 Euler steps, 8
  samples) at batch 1 and at a planner-sized batch, for a passive model (one transition = one
  40 ms frame of a 6-object scene) and a skill model (one transition = one BlockStack skill);
- the simulator's own rate on that work: scenario frames/s (state only, and with 64 px RGB
  rendering) and BlockStack-v0 skill steps/s (the expert acting, state only);
- training samples/s (forward + backward + AdamW step, batch 64);
- the frame model (``FrameDiffusionModel``, default config, 64 px, K = 4): training samples/s
  (batch 16, its default) and imagined frames/s (3 Euler steps) at batch 1 and 16, against the
  simulator's 64 px scenario frames/s (``--frame-only`` measures just this part);
- with ``--frame-mfu``, frame-model training on a GPU (or any device): samples/s, TFLOP/s and
  model FLOP utilisation for a sweep of model sizes, batch sizes, bf16 autocast, channels-last
  and ``torch.compile``; the FLOPs of one step (forward and backward) are counted by torch's
  ``FlopCounterMode`` and divided by the step time; MFU is given against the datasheet's dense
  bf16 peak (``--peak-tflops``) and against a bf16 8192^3 matrix product measured in the run;
- the planner's call end to end: ``imagine`` of C plans x S samples x T skills on a BlockStack
  scene with a skill model of the skill-outcome config (history 1, horizon 1: one model call
  per skill, all C x S rollouts in one batch), read-outs (p(goal holds and still), p(fall))
  included, in skill transitions/s against the simulator's skill steps/s; ``--imagine-only``
  measures just this for each ``--skill-model`` given, and for all of them as one ensemble
  (``ModelEnsemble``: every member imagines S futures, so a call is M x the transitions).

Weights are random: speed does not depend on them. Prints a table and writes JSON.

    MUJOCO_GL=egl python benchmarks/worldmodel.py --out runs/bench/worldmodel.json
    python benchmarks/worldmodel.py --imagine-only --skill-model RUN_A --skill-model RUN_B --out runs/bench/imagine.json
    python benchmarks/worldmodel.py --device cuda --frame-mfu --out runs/bench/frame-mfu.json
"""

from __future__ import annotations

import argparse
import platform
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import gymnasium as gym
import torch

import foretell.envs  # noqa: F401 - registers the envs
from foretell.envs.measure.episodes import make_policy
from foretell.runtime import atomic_write_json, resolve_device
from foretell.worldmodel import (
    FrameDiffusionModel,
    ModelEnsemble,
    ObjectDiffusionModel,
    SceneState,
    imagine,
    load,
)
from foretell.worldmodel.actions import action_dim

OBJECTS = 6


def scenario_frames_per_s(obs_keys: tuple[str, ...], episodes: int) -> float:
    """Collide-v0 frames/s through env.step (75 frames an episode)."""
    env = gym.make("foretell/Collide-v0", obs_keys=obs_keys, image_size=64)
    frames, wall = 0, 0.0
    for seed in range(episodes):
        env.reset(seed=seed)
        start, done = time.perf_counter(), False
        while not done:
            *_, terminated, truncated, _ = env.step(0)
            frames, done = frames + 1, terminated or truncated
        wall += time.perf_counter() - start
    env.close()
    return frames / wall


def skill_steps_per_s(episodes: int) -> float:
    """BlockStack-v0 skill steps/s with the expert acting (each: a skill, then settling)."""
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    steps, wall = 0, 0.0
    for seed in range(episodes):
        env.reset(seed=seed)
        act, done = make_policy(env, "expert", seed), False
        while not done:
            action = act()
            if action["skill"] == "declare_infeasible":  # simulates nothing
                break
            start = time.perf_counter()
            *_, terminated, truncated, _ = env.step(action)
            wall += time.perf_counter() - start
            steps, done = steps + 1, terminated or truncated
    env.close()
    return steps / wall


def _inputs(model: ObjectDiffusionModel, batch: int, device: str) -> dict[str, torch.Tensor]:
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    inputs = {"history": torch.randn(batch, cfg.history, OBJECTS, 13, generator=g),
              "properties": torch.rand(batch, OBJECTS, cfg.property_dim, generator=g),
              "mask": torch.ones(batch, OBJECTS, dtype=torch.bool)}
    inputs["history"][..., 3:7] = torch.nn.functional.normalize(inputs["history"][..., 3:7], dim=-1)
    a = action_dim(cfg.action_kind)
    inputs["actions"] = torch.rand(batch, cfg.horizon, a, generator=g) if a else None
    return {k: (v.to(device) if v is not None else None) for k, v in inputs.items()}


@torch.no_grad()
def transitions_per_s(model: ObjectDiffusionModel, batch: int, samples: int, steps: int, repeats: int) -> float:
    """Imagined transitions/s: batch x samples x H future states per ``sample`` call."""
    x = _inputs(model, batch, str(model.device))
    g = torch.Generator().manual_seed(1)
    model.sample(x["history"], x["properties"], x["mask"], x["actions"], samples, steps, g)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        model.sample(x["history"], x["properties"], x["mask"], x["actions"], samples, steps, g)
    return repeats * batch * samples * model.config.horizon / (time.perf_counter() - start)


def training_samples_per_s(model: ObjectDiffusionModel, batch: int, repeats: int) -> float:
    x = _inputs(model, batch, str(model.device))
    cfg = model.config
    x["future"] = torch.randn(batch, cfg.horizon, OBJECTS, 13, device=model.device)
    x["future"][..., 3:7] = torch.nn.functional.normalize(x["future"][..., 3:7], dim=-1)
    x["properties_known"] = torch.ones(batch, device=model.device)
    if x["actions"] is None:
        del x["actions"]
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(2)
    model.train()
    for k in range(repeats + 1):
        if k == 1:
            start = time.perf_counter()  # the first step warms up
        loss = model.training_loss(x, g)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    return repeats * batch / (time.perf_counter() - start)


def frame_model_speed(device: str, repeats: int, steps: int = 3, batch: int = 16) -> dict:
    """The default frame model at 64 px: training samples/s at ``batch`` and imagined frames/s
    (``steps`` Euler steps, one sample) at batch 1 and ``batch``."""
    model = FrameDiffusionModel(image_size=64).to(device)
    g = torch.Generator().manual_seed(4)
    k = model.config.history
    frames = torch.randint(0, 256, (batch, k + 1, 64, 64, 3), dtype=torch.uint8, generator=g).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for i in range(repeats + 1):
        if i == 1:
            start = time.perf_counter()  # the first step warms up
        loss = model.training_loss({"frames": frames}, g)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    train_rate = repeats * batch / (time.perf_counter() - start)
    model.eval()
    rates = {}
    for b in (1, batch):
        context = frames[:b, :k]
        model.rollout(context, 1, num_steps=steps, generator=g)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model.rollout(context, 1, num_steps=steps, generator=g)
        rates[b] = repeats * b / (time.perf_counter() - start)
    return {"parameters": sum(p.numel() for p in model.parameters()), "image_size": 64, "train_batch": batch,
            "train_samples_per_s": train_rate, "sampling_steps": steps,
            "frames_per_s": {str(b): r for b, r in rates.items()}}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_tflops(device: str, n: int = 8192, repeats: int = 10) -> float:
    """bf16 ``n x n x n`` matrix products per second on ``device``, in TFLOP/s (the measured ceiling)."""
    g = torch.Generator().manual_seed(5)
    a, b = (torch.randn(n, n, generator=g).to(device, torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e12


# (block_out_channels, layers_per_block, batch, bf16, channels_last, compile, cudnn.benchmark): the
# default model, DIAMOND's size (4 levels of 64 channels, 2 blocks each) and a wider one. The first
# GPU session (2026-11-30) also ran fp32 and channels-last rows: fp32 was 19% slower than bf16 and
# channels-last 31% slower (eager), and the wide model compiled with channels-last failed with
# "CUDA error: misaligned address" (docs/benchmarks.md).
MFU_SWEEP = (((16, 32, 64, 64), 1, 256, True, False, False, True),
             ((64, 64, 64, 64), 2, 256, True, False, False, True),
             ((64, 64, 64, 64), 2, 1024, True, False, False, True),
             ((64, 128, 256, 256), 2, 1024, True, False, False, True),
             ((64, 64, 64, 64), 2, 1024, True, False, True, True),
             ((64, 128, 256, 256), 2, 1024, True, False, True, True))


def frame_training_mfu(device: str, channels: tuple[int, ...], layers: int, batch: int, bf16: bool,
                       channels_last: bool, compiled: bool, cudnn_benchmark: bool, steps: int) -> dict:
    """One frame-model training configuration at 64 px, K = 4: FLOPs per step (forward and
    backward, ``FlopCounterMode`` on the eager model), samples/s and TFLOP/s over ``steps``
    timed steps after warm-up (the compile happens there)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.backends.cudnn.benchmark = cudnn_benchmark
    model = FrameDiffusionModel(image_size=64, block_out_channels=channels, layers_per_block=layers).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(4)
    frames = torch.randint(0, 256, (batch, model.config.history + 1, 64, 64, 3), dtype=torch.uint8, generator=g)
    data = {"frames": frames.to(device)}
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if bf16 else nullcontext()
    with FlopCounterMode(display=False) as counter:
        with autocast:
            loss = model.training_loss(data, g)
        loss.backward()
    flops = counter.get_total_flops()
    denoiser = torch.compile(model) if compiled else model

    def step() -> None:
        with autocast:
            loss = model.training_loss(data, g, denoiser)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    start = time.perf_counter()
    for _ in range(3):
        step()
    _sync(device)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    wall = time.perf_counter() - start
    return {"block_out_channels": list(channels), "layers_per_block": layers, "batch": batch, "bf16": bf16,
            "channels_last": channels_last, "compile": compiled, "cudnn_benchmark": cudnn_benchmark,
            "parameters": sum(p.numel() for p in model.parameters()), "flops_per_step": flops,
            "warmup_s": round(warmup, 2), "samples_per_s": steps * batch / wall, "tflops": flops * steps / wall / 1e12}


def frame_mfu_sweep(device: str, steps: int, peak_tflops: float, out: Path) -> None:
    """Runs ``MFU_SWEEP``, writing the JSON after every configuration (a run cut short keeps what it measured)."""
    measured = matmul_tflops(device)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor() or "cpu"
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": device, "device_name": name,
              "torch": torch.__version__, "peak_tflops_datasheet_bf16": peak_tflops,
              "matmul_tflops_bf16_measured": measured, "rows": []}
    print(f"{name}: bf16 8192^3 matmul {measured:.0f} TFLOP/s (datasheet dense bf16 {peak_tflops:.0f})")
    print(f"{'channels':>18s} {'L':>2s} {'batch':>5s} {'bf16':>5s} {'c-last':>6s} {'compile':>7s} {'cudnn-b':>7s} "
          f"{'params':>10s} {'samples/s':>10s} {'TFLOP/s':>8s} {'MFU':>6s} {'of matmul':>9s}")
    for channels, layers, batch, bf16, channels_last, compiled, cudnn_benchmark in MFU_SWEEP:
        try:
            row = frame_training_mfu(device, channels, layers, batch, bf16, channels_last, compiled, cudnn_benchmark,
                                     steps)
        except Exception as error:  # one configuration failing (a compile error, memory) must not lose the rest
            row = {"block_out_channels": list(channels), "layers_per_block": layers, "batch": batch, "bf16": bf16,
                   "channels_last": channels_last, "compile": compiled, "cudnn_benchmark": cudnn_benchmark,
                   "error": f"{type(error).__name__}: {error}"}
            print(f"{str(channels):>18s} {layers:2d} {batch:5d} failed: {row['error'][:200]}")
        else:
            row["mfu"], row["of_matmul"] = row["tflops"] / peak_tflops, row["tflops"] / measured
            print(f"{str(channels):>18s} {layers:2d} {batch:5d} {str(bf16):>5s} {str(channels_last):>6s} "
                  f"{str(compiled):>7s} {str(cudnn_benchmark):>7s} {row['parameters']:10,d} {row['samples_per_s']:10.0f} {row['tflops']:8.1f} "
                  f"{row['mfu']:6.1%} {row['of_matmul']:9.1%}")
        result["rows"].append(row)
        atomic_write_json(out, result)
    print(f"wrote {out}")


def imagine_transitions_per_s(model: ObjectDiffusionModel | ModelEnsemble, plans: int, samples: int, skills: int,
                              steps: int, repeats: int) -> dict:
    """``imagine`` (plus read-outs) on a seeded 4-object BlockStack scene: C x S x T skill transitions/s."""
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    seed = next(s for s in range(100) if env.reset(seed=s) and len(env.unwrapped.object_names) >= 4)
    env.reset(seed=seed)
    scene = SceneState.from_env(env)
    env.close()
    names = scene.object_names
    g = torch.Generator().manual_seed(3)
    candidates = []
    for _ in range(plans):  # random legal skills: speed does not depend on which
        plan = []
        for _ in range(skills):
            i, j = torch.randperm(len(names), generator=g)[:2].tolist()
            plan.append({"skill": "pick_place", "object": names[i], "target": names[j]})
        candidates.append(plan)
    goal = [f"on({candidates[0][0]['object']}, {candidates[0][0]['target']})"]
    imagine(model, scene, candidates, samples, g, steps).p_goal_stable(goal)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        out = imagine(model, scene, candidates, samples, g, steps)
        out.p_goal_stable(goal)
        out.p_fall()
    wall = (time.perf_counter() - start) / repeats
    members = len(model) if isinstance(model, ModelEnsemble) else 1
    return {"plans": plans, "samples": samples, "members": members, "skills": skills, "objects": len(names),
            "seconds_per_call": wall, "transitions_per_s": plans * samples * members * skills / wall}


def imagine_only(args, device: str) -> None:
    """``--imagine-only``: the planner's call with each ``--skill-model`` and, given several, their ensemble."""
    sim = skill_steps_per_s(args.episodes)
    models = {str(p): load(p, device=device, kind="object") for p in args.skill_model}
    if not models:
        models = {"untrained (history 1, horizon 1)": ObjectDiffusionModel(history=1, horizon=1, action_kind="skill")
                  .to(device).eval()}
    if len(models) > 1:
        models["ensemble of all " + str(len(models))] = ModelEnsemble(list(models.values()))
    rows = []
    print(f"BlockStack {sim:.2f} skill steps/s; imagine: {args.imagine_plans} plans x {args.samples} samples "
          f"(per member) x {args.imagine_skills} skills, read-outs included")
    for name, model in models.items():
        row = {"model": name, **imagine_transitions_per_s(model, args.imagine_plans, args.samples,
                                                          args.imagine_skills, args.steps, args.repeats)}
        row["ratio_to_simulator"] = row["transitions_per_s"] / sim
        rows.append(row)
        print(f"  {name}: {row['seconds_per_call']:.3f} s per call, {row['transitions_per_s']:.0f} skill "
              f"transitions/s, {row['ratio_to_simulator']:.1f}x the simulator")
    atomic_write_json(args.out, {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "machine": platform.processor() or platform.machine(),
                                 "torch_threads": torch.get_num_threads(), "device": device,
                                 "simulator": {"blockstack_skill_steps_per_s": sim}, "imagine": rows,
                                 "args": {k: str(v) for k, v in vars(args).items()}})
    print(f"wrote {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--episodes", type=int, default=6, help="simulator episodes per measurement")
    parser.add_argument("--planner-batch", type=int, default=64, help="candidate plans imagined in one call")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="sampling steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imagine-plans", type=int, default=8, help="C candidate plans per imagine call")
    parser.add_argument("--imagine-skills", type=int, default=4, help="T skills per plan")
    parser.add_argument("--imagine-only", action="store_true",
                        help="only the planner's imagine call (each --skill-model, and their ensemble) and the "
                             "simulator's skill steps/s")
    parser.add_argument("--skill-model", type=Path, action="append", default=[],
                        help="a trained skill run to time imagine with (repeat it for several and their ensemble; "
                             "default: random weights, same config)")
    parser.add_argument("--frame-only", action="store_true", help="only the frame model and 64 px rendering")
    parser.add_argument("--frame-mfu", action="store_true",
                        help="only frame-model training throughput and MFU over a sweep of sizes (for GPUs)")
    parser.add_argument("--mfu-steps", type=int, default=20, help="timed training steps per MFU configuration")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the device's dense bf16 peak in TFLOP/s (H100/H200 SXM datasheet: 989)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/worldmodel.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    if args.frame_mfu:
        frame_mfu_sweep(device, args.mfu_steps, args.peak_tflops, args.out)
        return
    if args.imagine_only:
        imagine_only(args, device)
        return
    if args.frame_only:
        rendered = scenario_frames_per_s(("rgb", "state"), args.episodes)
        frame = frame_model_speed(device, args.repeats)
        frame["ratio_to_simulator"] = {b: r / rendered for b, r in frame["frames_per_s"].items()}
        _print_frame(frame, rendered)
        atomic_write_json(args.out, {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                     "torch_threads": torch.get_num_threads(), "device": device,
                                     "simulator": {"scenario_frames_per_s_rgb64": rendered}, "frame_model": frame})
        print(f"wrote {args.out}")
        return

    sim = {"scenario_frames_per_s_state": scenario_frames_per_s(("state",), args.episodes),
           "scenario_frames_per_s_rgb64": scenario_frames_per_s(("rgb", "state"), args.episodes),
           "blockstack_skill_steps_per_s": skill_steps_per_s(args.episodes)}
    rows, models = [], {}
    for kind, reference in (("none", "scenario_frames_per_s_rgb64"), ("skill", "blockstack_skill_steps_per_s")):
        model = ObjectDiffusionModel(action_kind=kind).to(device).eval()
        models[kind] = {"parameters": sum(p.numel() for p in model.parameters()),
                        "train_samples_per_s": training_samples_per_s(model, 64, args.repeats)}
        for batch in (1, args.planner_batch):
            rate = transitions_per_s(model, batch, args.samples, args.steps, args.repeats)
            rows.append({"kind": kind, "batch": batch, "samples": args.samples, "sampling_steps": args.steps,
                         "transitions_per_s": rate, "simulator_reference": reference,
                         "ratio_to_simulator": rate / sim[reference],
                         **({"ratio_to_simulator_state_only": rate / sim["scenario_frames_per_s_state"]}
                            if kind == "none" else {})})
    skill_model = (load(args.skill_model[0]) if args.skill_model else
                   ObjectDiffusionModel(history=1, horizon=1, action_kind="skill")).to(device).eval()
    planner = imagine_transitions_per_s(skill_model, args.imagine_plans, args.samples, args.imagine_skills,
                                        args.steps, args.repeats)
    planner["ratio_to_simulator"] = planner["transitions_per_s"] / sim["blockstack_skill_steps_per_s"]
    frame = frame_model_speed(device, args.repeats)
    frame["ratio_to_simulator"] = {b: r / sim["scenario_frames_per_s_rgb64"] for b, r in frame["frames_per_s"].items()}
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.processor()
              or platform.machine(), "torch_threads": torch.get_num_threads(), "device": device,
              "simulator": sim, "models": models, "imagination": rows, "imagine": planner, "frame_model": frame, "args": {k: str(v) for k, v in
                                                                                 vars(args).items()}}
    print(f"simulator: Collide {sim['scenario_frames_per_s_state']:.0f} frames/s (state), "
          f"{sim['scenario_frames_per_s_rgb64']:.0f} frames/s (64 px rgb); BlockStack "
          f"{sim['blockstack_skill_steps_per_s']:.2f} skill steps/s")
    for kind, info in models.items():
        print(f"model {kind}: {info['parameters']:,} parameters, training {info['train_samples_per_s']:.0f} samples/s")
    print(f"{'model':6s} {'batch':>5s} {'transitions/s':>14s}  ratio to the simulator")
    for r in rows:
        extra = (f"; {r['ratio_to_simulator_state_only']:.2f}x the state-only simulator"
                 if "ratio_to_simulator_state_only" in r else "")
        print(f"{r['kind']:6s} {r['batch']:5d} {r['transitions_per_s']:14.0f}  {r['ratio_to_simulator']:8.1f}x "
              f"({r['simulator_reference']}){extra}")
    print(f"imagine: {planner['plans']} plans x {planner['samples']} samples x {planner['skills']} skills in "
          f"{planner['seconds_per_call']:.2f} s = {planner['transitions_per_s']:.0f} skill transitions/s, "
          f"{planner['ratio_to_simulator']:.1f}x the simulator")
    _print_frame(frame, sim["scenario_frames_per_s_rgb64"])
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


def _print_frame(frame: dict, rendered: float) -> None:
    print(f"frame model: {frame['parameters']:,} parameters, training {frame['train_samples_per_s']:.1f} samples/s "
          f"(batch {frame['train_batch']}, 64 px); imagined frames/s ({frame['sampling_steps']} steps): "
          + ", ".join(f"batch {b} {r:.1f} ({r / rendered:.2f}x the simulator's {rendered:.0f} rendered frames/s)"
                      for b, r in frame["frames_per_s"].items()))


if __name__ == "__main__":
    main()
