"""The deterministic regressor: the diffusion model's trunk and size, an MSE loss, one prediction
repeated as samples, trained and resumed by the same run code, loaded apart from the object model."""

import json

import pytest
import torch
from typer.testing import CliRunner

from foretell.cli import app
from foretell.worldmodel import ObjectDiffusionModel, TrainConfig, load, load_windows, train
from foretell.worldmodel.regressor import ObjectRegressorModel, load_model

from .conftest import TINY_MODEL, randomise

torch.set_num_threads(1)


def test_same_trunk_and_size_as_the_diffusion_model():
    diffusion, regressor = ObjectDiffusionModel(), ObjectRegressorModel()
    assert [(n, p.shape) for n, p in diffusion.named_parameters()] == \
        [(n, p.shape) for n, p in regressor.named_parameters()]
    assert sum(p.numel() for p in regressor.parameters()) == 1_743_503  # docs/worldmodel.md's passive model


def test_prediction_is_deterministic_and_repeated_as_samples(collide_dataset):
    model = randomise(ObjectRegressorModel(**TINY_MODEL)).eval()
    batch = load_windows([collide_dataset], 2, 3).batch([0, 7, 30])
    args = (batch["history"], batch["properties"], batch["mask"])
    one = model.sample(*args, num_samples=4, generator=torch.Generator().manual_seed(0))
    two = model.sample(*args, num_samples=4, generator=torch.Generator().manual_seed(1))
    n = batch["mask"].shape[1]
    assert one.shape == (3, 4, 3, n, 13) and torch.equal(one, two)
    assert torch.equal(one[:, 0], one[:, 3])
    assert (one[~batch["mask"][:, None, None, :].expand(3, 4, 3, n)] == 0).all()  # absent objects stay zero
    with pytest.raises(ValueError, match="history must be"):
        model.sample(batch["history"][:, :1], batch["properties"], batch["mask"])


def test_mse_loss_fits_a_batch(collide_dataset):
    windows = load_windows([collide_dataset], 2, 3)
    torch.manual_seed(0)
    model = ObjectRegressorModel(**TINY_MODEL, stats=windows.statistics(0))
    batch = windows.batch(list(range(0, 40, 2)))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(60):
        loss = model.training_loss(batch, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses[::10]
    # the loss is the masked MSE of the normalised prediction: recompute it by hand
    with torch.no_grad():
        cond = model.condition(batch["history"], batch["properties"], batch["mask"], None, batch["properties_known"])
        target = model.normalise_future(batch["future"], cond["last"])
        keep = batch["mask"][:, None, :, None]
        mse = ((model._predict(cond) - target) ** 2)[keep.expand_as(target)].mean()
        assert float(model.training_loss(batch, torch.Generator())) == pytest.approx(float(mse), rel=1e-5)


def test_a_regressor_run_trains_resumes_and_loads_apart(collide_dataset, tmp_path):
    run = tmp_path / "reg"
    settings = {"steps": 4, "batch_size": 4, "checkpoint_every": 2, "log_every": 1, "warmup_steps": 1,
                "device": "cpu", "model": TINY_MODEL}
    summary = train(TrainConfig(data=(str(collide_dataset),), out=str(run), kind="regressor", **settings))
    assert summary["kind"] == "regressor" and summary["final_loss"] == summary["final_loss"]
    model = load_model(run)
    assert isinstance(model, ObjectRegressorModel) and not model.training
    assert isinstance(load_model(tmp_path / "reg" / "checkpoints" / "step_00000004"), ObjectRegressorModel)
    with pytest.raises(ValueError, match="holds a ObjectRegressorModel model, not an object world model"):
        load(run)  # the diffusion model's loader refuses a regressor

    runner = CliRunner()  # the CLI: --kind regressor, and a resume that keeps the run's kind
    cli_run = tmp_path / "cli"
    result = runner.invoke(app, ["train", "world", "--kind", "regressor", "--data", str(collide_dataset), "--out",
                                 str(cli_run), "--steps", "2", "--history", "2", "--horizon", "3", "--batch-size",
                                 "4", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["kind"] == "regressor"
    assert json.loads((cli_run / "train_config.json").read_text())["kind"] == "regressor"
    again = runner.invoke(app, ["train", "world", "--out", str(cli_run), "--resume", "--steps", "3"])
    assert again.exit_code == 2 and "steps 2 -> 3" in again.output  # a changed budget is still refused
    again = runner.invoke(app, ["train", "world", "--out", str(cli_run), "--resume"])
    assert again.exit_code == 0 and "regressor.load_model" in again.output, again.output
    switched = runner.invoke(app, ["train", "world", "--out", str(cli_run), "--resume", "--kind", "object"])
    assert switched.exit_code == 2 and "kind 'regressor' -> 'object'" in switched.output, switched.output


def test_load_model_refuses_other_models(tmp_path):
    other = tmp_path / "unet"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(ValueError, match="UNet2DModel model, not an object world model or regressor"):
        load_model(other)
