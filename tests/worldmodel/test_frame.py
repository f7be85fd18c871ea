"""The frame world model: model, windows, training through the shared loop, resume, load, eval, refusals."""

import json

import pytest
import torch
from typer.testing import CliRunner

from foretell.cli import app
from foretell.data import TaskSpec
from foretell.worldmodel import FrameDiffusionModel, TrainConfig, load, load_frame_windows, load_model, train
from foretell.worldmodel.frame_eval import colour_masks, masks_touch, ssim

from .conftest import TINY_MODEL, _dataset

torch.set_num_threads(1)

TINY_FRAME = {"history": 2, "block_out_channels": [8, 16], "norm_num_groups": 4}
"""A UNet small enough to train a few steps on 16 px frames in well under a second."""


@pytest.fixture(scope="session")
def rgb_dataset(tmp_path_factory):
    """Three Collide episodes of 12 frames with 16 px frames, states and events."""
    return _dataset(tmp_path_factory, "rgb", (TaskSpec("foretell/Collide-v0", 3, max_steps=11),),
                    obs_keys=("rgb", "state", "object_mask"))


def _config(data, out, **kwargs) -> TrainConfig:
    settings = {"kind": "frame", "steps": 4, "batch_size": 4, "checkpoint_every": 2, "log_every": 1,
                "warmup_steps": 1, "device": "cpu", "model": TINY_FRAME, **kwargs}
    return TrainConfig(data=(str(data),), out=str(out), **settings)


def _losses(run) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


class _Crash(Exception):
    pass


def test_windows_are_gathered_from_rgb(rgb_dataset):
    windows = load_frame_windows([rgb_dataset], history=2)
    assert windows.frames.shape == (36, 16, 16, 3) and windows.frames.dtype.name == "uint8"
    assert len(windows) == 3 * (12 - 2) and windows.action_kind == "none" and windows.image_size == 16
    batch = windows.batch([0, 10])
    assert batch["frames"].shape == (2, 3, 16, 16, 3)
    assert torch.equal(batch["frames"][1], torch.from_numpy(windows.frames[12:15]))  # episode 2 starts at row 12
    stats = windows.statistics(0)
    assert len(stats["change_std"]) == 3 and all(s > 0 for s in stats["change_std"])


def test_model_shapes_round_trip_and_determinism(tmp_path):
    model = FrameDiffusionModel(image_size=16, **TINY_FRAME).eval()
    context = torch.randint(0, 256, (2, 2, 16, 16, 3), dtype=torch.uint8)
    out = model.rollout(context, horizon=3, num_samples=2, num_steps=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 2, 3, 16, 16, 3) and out.dtype == torch.uint8
    again = model.rollout(context, horizon=3, num_samples=2, num_steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "diffusion_pytorch_model.safetensors").exists()
    loaded = FrameDiffusionModel.from_pretrained(tmp_path / "m").eval()
    assert torch.equal(loaded.rollout(context, 3, num_samples=2, num_steps=2,
                                      generator=torch.Generator().manual_seed(0)), out)
    with pytest.raises(ValueError, match="context must be"):
        model.rollout(context[:, :1], horizon=1)
    with pytest.raises(ValueError, match="passive scenes"):
        model.rollout(context, horizon=1, actions=torch.zeros(2, 2, 4))


def test_pixel_noise_is_drawn_from_the_generator_on_cpu():
    from foretell.worldmodel.frame_diffusion import _pixel_noise

    shape = torch.Size((2, 3, 8, 8))
    drawn = _pixel_noise(shape, torch.Generator().manual_seed(5), torch.device("cpu"))
    assert torch.equal(drawn, torch.randn(shape, generator=torch.Generator().manual_seed(5)))


@pytest.mark.gpu
def test_training_loss_on_cuda_is_seeded_and_draws_noise_there():  # conftest skips it without CUDA
    model = FrameDiffusionModel(image_size=16, **TINY_FRAME).to("cuda")
    frames = torch.randint(0, 256, (4, 3, 16, 16, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    batch = {"frames": frames.to("cuda")}
    first = model.training_loss(batch, torch.Generator().manual_seed(2))
    again = model.training_loss(batch, torch.Generator().manual_seed(2))
    assert first.device.type == "cuda" and torch.equal(first, again)
    assert not torch.equal(first, model.training_loss(batch, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("kind, dim", [("vector", 4), ("skill", 22)])
def test_actions_condition_the_prediction(kind, dim):
    torch.manual_seed(0)
    model = FrameDiffusionModel(image_size=16, action_kind=kind, **TINY_FRAME).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape))  # zero-initialised layers would hide the actions
    context = torch.randint(0, 256, (1, 2, 16, 16, 3), dtype=torch.uint8)
    outs = [model.rollout(context, 1, torch.full((1, 2, dim), value), num_steps=2,
                          generator=torch.Generator().manual_seed(0)) for value in (0.0, 1.0)]
    assert not torch.equal(*outs)
    with pytest.raises(ValueError, match="needs actions"):
        model.rollout(context, 1)


def test_train_checkpoint_resume_and_load(rgb_dataset, tmp_path):
    full = train(_config(rgb_dataset, tmp_path / "full"))
    assert full["kind"] == "frame" and full["windows"] == 30 and len(_losses(tmp_path / "full")) == 4
    state = json.loads((tmp_path / "full" / "checkpoints" / "step_00000004" / "state.json").read_text())
    assert state["kind"] == "frame"
    assert not [p for p in (tmp_path / "full").rglob("*") if p.suffix in (".pt", ".pth", ".bin", ".pkl", ".ckpt")]

    def crash(step, loss):
        if step == 3:
            raise _Crash

    run = tmp_path / "crashed"
    with pytest.raises(_Crash):
        train(_config(rgb_dataset, run), on_step=crash)
    resumed = train(_config(rgb_dataset, run), resume=True)
    assert resumed["resumed_from_step"] == 2
    assert _losses(run) == _losses(tmp_path / "full")
    assert resumed["weights_digest_per_rank"] == full["weights_digest_per_rank"]

    model = load(run)
    assert isinstance(model, FrameDiffusionModel) and not model.training and model.config.image_size == 16
    assert model.config.stats == load_frame_windows([rgb_dataset], 2).statistics(0)
    assert isinstance(load(run, kind="frame"), FrameDiffusionModel)


def test_kinds_are_refused_where_they_do_not_belong(rgb_dataset, tmp_path):
    frame_run, object_run = tmp_path / "frame", tmp_path / "object"
    train(_config(rgb_dataset, frame_run, steps=1))
    train(TrainConfig(data=(str(rgb_dataset),), out=str(object_run), steps=1, batch_size=2, device="cpu",
                      model=TINY_MODEL))
    with pytest.raises(ValueError, match="holds a FrameDiffusionModel model, not an object world model"):
        load(frame_run, kind="object")
    with pytest.raises(ValueError, match="FrameDiffusionModel model, not an object world model or regressor"):
        load_model(frame_run)
    with pytest.raises(ValueError, match="holds a ObjectDiffusionModel model, not a frame world model"):
        load(object_run, kind="frame")
    # a run's checkpoint of the other kind (e.g. a folder reused by hand) is refused on resume
    state_file = frame_run / "checkpoints" / "step_00000001" / "state.json"
    state_file.write_text(json.dumps({**json.loads(state_file.read_text()), "kind": "object"}))
    with pytest.raises(ValueError, match="checkpoint of a 'object' world model, not a frame one"):
        train(_config(rgb_dataset, frame_run, steps=1), resume=True)


def test_a_dataset_without_rgb_is_refused(collide_dataset, tmp_path):
    with pytest.raises(ValueError, match="lacks the key 'rgb'"):
        load_frame_windows([collide_dataset], history=2)
    with pytest.raises(ValueError, match="lacks the key 'rgb'"):
        train(_config(collide_dataset, tmp_path / "run"))


def test_colour_contact_read_out_and_ssim():
    frames = torch.zeros(1, 1, 8, 8, 3, dtype=torch.uint8)
    frames[..., :] = torch.tensor([184, 153, 115], dtype=torch.uint8)  # the table
    frames[0, 0, 2:5, 1:3] = torch.tensor([217, 31, 31], dtype=torch.uint8)  # red agent
    frames[0, 0, 2:5, 4:6] = torch.tensor([240, 215, 25], dtype=torch.uint8)  # yellow patient, one pixel apart
    palette = torch.tensor([[[0.85, 0.12, 0.12], [0.95, 0.85, 0.1]]])
    masks = colour_masks(frames, palette, torch.tensor([[0, 1]]))  # (1, 1, 2, 8, 8)
    assert masks[0, 0, 0].sum() == 6 and masks[0, 0, 1].sum() == 6
    assert not masks_touch(masks[:, :, 0], masks[:, :, 1]).any()  # a one-pixel gap: no contact
    frames[0, 0, 2:5, 3] = torch.tensor([217, 31, 31], dtype=torch.uint8)  # the agent grows into the gap
    masks = colour_masks(frames, palette, torch.tensor([[0, 1]]))
    assert masks_touch(masks[:, :, 0], masks[:, :, 1]).all()  # three patient pixels next to the agent
    assert not masks_touch(masks[:, :, 0, :3], masks[:, :, 1, :3]).any()  # rows 0-2: one pixel is not contact
    image = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    assert torch.allclose(ssim(image, image), torch.ones(2))
    assert (ssim(image, 255 - image) < 0.5).all()


def test_cli_trains_and_evaluates_frames(rgb_dataset, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "world", "--kind", "frame", "--data", str(rgb_dataset), "--out", str(run),
                                 "--steps", "2", "--history", "2", "--batch-size", "2", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["train", "world", "--kind", "frame", "--data", str(rgb_dataset), "--out",
                              str(tmp_path / "x"), "--horizon", "3"])
    assert bad.exit_code == 2 and "--horizon does not apply to --kind frame" in bad.output
    result = runner.invoke(app, ["eval", "frames", "--model", str(run), "--data", str(rgb_dataset), "--horizon", "3",
                                 "--samples", "2", "--steps", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert {"psnr", "ssim", "copy_last", "mean", "contact", "windows", "config"} <= set(report)
    assert len(report["psnr"]) == len(report["ssim"]) == len(report["copy_last"]["psnr"]) == 3
    contact = report["contact"]
    assert contact is None or {"accuracy", "true_frames_accuracy", "copy_last_accuracy"} <= set(contact) \
        or contact["episodes"] == 0
    video = tmp_path / "show.mp4"
    shown = runner.invoke(app, ["worldmodel", "show", "--model", str(run), "--data", str(rgb_dataset), "--episode",
                                "1", "--out", str(video), "--samples", "2", "--size", "32", "--steps", "1"])
    assert shown.exit_code == 0, shown.output
    assert video.stat().st_size > 0
