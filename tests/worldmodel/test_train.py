"""Training runs: end to end, checkpoints, resume after a crash, load(RUN), the CLI, refusals."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from foretell.cli import app
from foretell.worldmodel import ObjectDiffusionModel, TrainConfig, load, load_windows, train
from foretell.worldmodel.train import command_config

from .conftest import TINY_MODEL

torch.set_num_threads(1)


def _config(data, out, **kwargs) -> TrainConfig:
    settings = {"steps": 6, "batch_size": 4, "checkpoint_every": 3, "log_every": 1, "warmup_steps": 2,
                "device": "cpu", "model": TINY_MODEL, **kwargs}
    return TrainConfig(data=(str(data),), out=str(out), **settings)


def _losses(run) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


class _Crash(Exception):
    pass


def test_tiny_run_trains_checkpoints_and_loads(collide_dataset, tmp_path):
    run = tmp_path / "run"
    summary = train(_config(collide_dataset, run))
    assert summary["steps"] == 6 and summary["world_size"] == 1 and len(_losses(run)) == 6
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step_00000003", "step_00000006"]
    last = run / "checkpoints" / "step_00000006"
    assert sorted(p.name for p in last.iterdir()) == ["ema", "model", "optimizer.safetensors", "state.json"]
    state = json.loads((last / "state.json").read_text())
    assert state["kind"] == "object" and state["step"] == 6 and state["ema"]["optimization_step"] == 6
    assert any(k.endswith("/exp_avg_sq") for k in load_file(last / "optimizer.safetensors"))
    assert not [p for p in run.rglob("*") if p.suffix in (".pt", ".pth", ".bin", ".pkl", ".ckpt")]

    model = load(run)
    assert isinstance(model, ObjectDiffusionModel) and not model.training
    windows = load_windows([collide_dataset], history=2, horizon=3)
    assert model.config.stats == windows.statistics(0, velocity_prior=True)  # the normalisation travels with the model
    raw = load(run, weights="model")
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), raw.parameters(), strict=True))
    batch = windows.batch([0, 5])
    out = model.sample(batch["history"], batch["properties"], batch["mask"], num_samples=3, num_steps=2,
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 3, batch["mask"].shape[1], 13) and torch.isfinite(out).all()
    moved = (out[..., :3] - batch["history"][:, None, -1:, :, :3]).norm(dim=-1)
    assert moved[batch["mask"][:, None, None, :].expand_as(moved)].max() < 2.0  # metres: stays on the table


def test_skill_runs_predict_from_the_commanded_placement(skills_dataset, tmp_path):
    run = tmp_path / "skill"
    train(_config(skills_dataset, run, steps=2, model={**TINY_MODEL, "history": 1, "horizon": 1,
                                                       "skill_prior": True}))
    model = load(run)
    windows = load_windows([skills_dataset], history=1, horizon=1)
    assert model.config.skill_prior and model.config.stats == windows.statistics(0, skill_prior=True)
    batch = windows.batch([0, 1])
    out = model.sample(batch["history"], batch["properties"], batch["mask"], batch["actions"], num_samples=2,
                       num_steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()
    off = tmp_path / "no-prior"
    train(_config(skills_dataset, off, steps=1, model={**TINY_MODEL, "history": 1, "horizon": 1}))
    assert not load(off).config.skill_prior  # off by default
    relational = tmp_path / "relational"  # what foretell train world --relational builds
    train(command_config(relational, False, data=[skills_dataset], steps=1, batch_size=4, device="cpu", history=1,
                         horizon=1, hidden_dim=32, num_layers=1, skill_prior=True, relational=True))
    assert load(relational).config.relational and not load(off).config.relational


def test_scenario_runs_predict_from_constant_velocity(collide_dataset, tmp_path):
    from foretell.worldmodel.geometry import constant_velocity_displacement

    run = tmp_path / "velocity"
    train(_config(collide_dataset, run, steps=2, model=dict(TINY_MODEL)))  # on by default for per-frame data
    model = load(run)
    off = tmp_path / "no-velocity"
    train(_config(collide_dataset, off, steps=1, model={**TINY_MODEL, "velocity_prior": False}))
    assert not load(off).config.velocity_prior
    windows = load_windows([collide_dataset], history=2, horizon=3)
    assert model.config.velocity_prior and model.config.stats == windows.statistics(0, velocity_prior=True)
    b = windows.batch(np.arange(len(windows)))
    last = b["history"][:, -1].double()
    prior = constant_velocity_displacement(last, 3, windows.fps)  # (B, 3, N, 3)
    assert torch.allclose(prior[:, 2], 3 * prior[:, 0])  # constant velocity: linear in time
    # over 3 frames (0.12 s) constant velocity explains most of the motion: the residual is smaller
    keep = b["mask"][:, None, :, None].expand(-1, 3, -1, 3)
    moved = b["future"][..., :3].double() - last[:, None, :, :3]
    assert float((moved - prior)[keep].abs().mean()) < 0.5 * float(moved[keep].abs().mean())
    batch = windows.batch([0, 1])
    out = model.sample(batch["history"], batch["properties"], batch["mask"], num_samples=2, num_steps=2,
                       generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="velocity_prior applies to per-frame data"):
        ObjectDiffusionModel(history=1, horizon=1, action_kind="skill", velocity_prior=True)


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(collide_dataset, tmp_path):
    full = train(_config(collide_dataset, tmp_path / "full"))

    def crash(step, loss):
        if step == 5:  # after the step-3 checkpoint, before the step-6 one
            raise _Crash

    run = tmp_path / "crashed"
    with pytest.raises(_Crash):
        train(_config(collide_dataset, run), on_step=crash)
    assert len(_losses(run)) == 5
    partial = run / "checkpoints" / ".tmp-step_00000006-x"  # what a kill -9 during a save leaves
    (partial / "model").mkdir(parents=True)
    (partial / "model" / "diffusion_pytorch_model.safetensors").write_bytes(b"half written")

    resumed = train(_config(collide_dataset, run), resume=True)
    assert resumed["resumed_from_step"] == 3
    assert _losses(run) == _losses(tmp_path / "full")  # steps 1-3 before the crash, 4-6 after: all identical
    assert resumed["weights_digest_per_rank"] == full["weights_digest_per_rank"]
    assert not partial.exists()


def test_same_seed_same_losses_and_another_seed_differs(collide_dataset, tmp_path):
    train(_config(collide_dataset, tmp_path / "a", steps=3))
    train(_config(collide_dataset, tmp_path / "b", steps=3))
    train(_config(collide_dataset, tmp_path / "c", steps=3, seed=1))
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b") != _losses(tmp_path / "c")


def test_runs_are_not_overwritten_and_resume_keeps_the_config(collide_dataset, tmp_path):
    run = tmp_path / "run"
    train(_config(collide_dataset, run, steps=2))
    with pytest.raises(ValueError, match="already holds a training run"):
        train(_config(collide_dataset, run, steps=2))
    with pytest.raises(ValueError, match="different config: steps 2 -> 4"):
        train(_config(collide_dataset, run, steps=4), resume=True)
    with pytest.raises(ValueError, match="holds no training run"):
        train(_config(collide_dataset, tmp_path / "none", steps=2), resume=True)
    done = train(_config(collide_dataset, run, steps=2), resume=True)  # nothing left to do
    assert done["resumed_from_step"] == 2 and done["final_loss"] == _losses(run)[-1]


def test_load_refuses_folders_without_an_object_model(tmp_path):
    with pytest.raises(ValueError, match="holds no checkpoint"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")
    other = tmp_path / "unet"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel", "sample_size": 32}))
    with pytest.raises(ValueError, match="holds a UNet2DModel model, not an object world model"):
        load(other)


def test_a_checkpoint_of_another_kind_is_refused(collide_dataset, tmp_path):
    run = tmp_path / "run"
    train(_config(collide_dataset, run, steps=1))
    state_file = run / "checkpoints" / "step_00000001" / "state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "kind": "frame"}))
    with pytest.raises(ValueError, match="checkpoint of a 'frame' world model"):
        train(_config(collide_dataset, run, steps=1), resume=True)


@pytest.mark.parametrize("change, message", [
    ({"steps": 0}, "steps must be >= 1"), ({"lr": 0.0}, "lr must be > 0"), ({"ema_decay": 1.0}, "ema_decay"),
    ({"lr_schedule": "step"}, "lr_schedule"), ({"kind": "video"}, "built kinds are"),
    ({"model": {"depth": 3}}, "unknown model arguments \\['depth'\\]"),
    ({"model": {"stats": {}}}, "unknown model arguments \\['stats'\\]"), ({"data": ()}, "at least one dataset"),
    ({"scale_augment": 0.5}, "scale_augment must be in"), ({"kind": "frame", "scale_augment": 1.5}, "not to --kind frame"),
    ({"motion_weight": -1.0}, "motion_weight must be in"), ({"kind": "frame", "motion_weight": 3.0}, "not to --kind frame"),
    ({"start_weight": 101.0}, "start_weight must be in"), ({"kind": "frame", "start_weight": 1.0}, "not to --kind frame"),
])
def test_bad_train_configs_are_refused(change, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"data": ("x",), "out": str(tmp_path), **change})


def test_bf16_autocast_runs_on_cpu(collide_dataset, tmp_path):
    summary = train(_config(collide_dataset, tmp_path / "bf16", steps=2, bf16=True))
    assert summary["final_loss"] == summary["final_loss"]  # not NaN


def test_cli_trains_resumes_and_reports_errors(collide_dataset, no_state_dataset, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["train", "world", "--kind", "object", "--data", str(collide_dataset), "--out", str(run), "--steps", "2",
            "--history", "2", "--horizon", "3", "--batch-size", "4", "--device", "cpu"]
    result = runner.invoke(app, [*args, "--hidden-dim", "32", "--num-layers", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["steps"] == 2 and summary["checkpoint"].endswith("step_00000002/ema")
    assert (load(run).config.hidden_dim, load(run).config.num_layers) == (32, 1)
    again = runner.invoke(app, ["train", "world", "--out", str(run), "--resume"])
    assert again.exit_code == 0 and "resumed from step 2" in again.output
    for argv, message in [
        ([*args[:3], "frame", *args[4:]], "--horizon does not apply to --kind frame"),
        (["train", "world", "--data", str(no_state_dataset), "--out", str(tmp_path / "x")], "lacks the key 'state'"),
        (["train", "world", "--out", str(run), "--resume", "--seed", "3"], "different config: seed 0 -> 3"),
        (["train", "world", "--out", str(tmp_path / "y")], "--data DIR is required"),
        ([*args[:3], "frame", *args[4:8], "--hidden-dim", "32"], "unknown model arguments ['hidden_dim']"),
    ]:
        bad = runner.invoke(app, argv)
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_tensorboard_scalars_are_written(collide_dataset, tmp_path):
    pytest.importorskip("tensorboard")
    train(_config(collide_dataset, tmp_path / "tb", steps=2))
    assert list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_kill_9_then_resume_matches_the_uninterrupted_run(collide_dataset, tmp_path):
    """The real thing: the CLI in a subprocess, SIGKILLed mid-run, then --resume."""
    import os
    import signal
    import subprocess
    import sys
    import time

    steps = "120"
    args = ["train", "world", "--data", str(collide_dataset), "--steps", steps, "--history", "2", "--horizon", "3",
            "--batch-size", "4", "--checkpoint-every", "5", "--device", "cpu"]
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
    proc = subprocess.Popen([sys.executable, "-m", "foretell.cli", *args, "--out", str(run)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # generous: the kill-9 tests have timed out on a loaded box
    while not (run / "checkpoints" / "step_00000015").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert int(json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"]) < int(steps)
    resumed = CliRunner().invoke(app, [*args, "--out", str(run), "--resume", "--json"])
    assert resumed.exit_code == 0, resumed.output
    reference = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "reference"), "--json"])
    assert reference.exit_code == 0, reference.output
    assert _losses(run) == _losses(tmp_path / "reference")
    assert json.loads((run / "summary.json").read_text())["weights_digest_per_rank"] == \
        json.loads((tmp_path / "reference" / "summary.json").read_text())["weights_digest_per_rank"]
