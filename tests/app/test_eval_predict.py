"""``foretell eval predict`` and ``foretell worldmodel show``: the real commands on tiny data and a
3-step model, and their refusals as one clear line."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from foretell.cli import app
from foretell.data import DatasetConfig, TaskSpec, generate
from foretell.worldmodel import ObjectDiffusionModel

os.environ.setdefault("MUJOCO_GL", "egl")
runner = CliRunner()
TINY = ["--history", "2", "--horizon", "3", "--batch-size", "4", "--steps", "3", "--device", "cpu"]


def _dataset(factory, name, split, episodes, keys=("state", "properties", "object_mask")):
    out = factory.mktemp(name) / "ds"
    generate(DatasetConfig(tasks=(TaskSpec("foretell/Collide-v0", episodes, max_steps=30),), split=split,
                           image_size=16, obs_keys=keys), out, progress=False)
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    train_set, test_set = _dataset(tmp_path_factory, "ap_train", "train", 12), _dataset(tmp_path_factory, "ap_test",
                                                                                        "test", 10)
    runs = tmp_path_factory.mktemp("ap_runs")
    for kind in ("object", "regressor"):
        result = runner.invoke(app, ["train", "world", "--kind", kind, "--data", str(train_set), "--out",
                                     str(runs / kind), *TINY])
        assert result.exit_code == 0, result.output
    return {"train": train_set, "test": test_set, "model": runs / "object", "regressor": runs / "regressor"}


@pytest.mark.slow  # ~10 s on a quiet 2-core box, a minute under load; the library path: tests/worldmodel/test_ocp_model.py
def test_eval_predict_json(setup, tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", "predict", "--model", str(setup["model"]), "--data", str(setup["test"]),
                                 "--regressor", str(setup["regressor"]), "--samples", "2", "--steps", "1",
                                 "--no-simulator", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"accuracy", "auroc", "ece", "brier", "position_error", "per_env", "baselines"} <= set(payload)
    assert {"regressor", "majority", "constant_velocity", "first_frame", "cut_classifier"} <= set(payload["baselines"])
    env = payload["per_env"]["Collide/A"]
    assert env["n"] == payload["n"] and {"label_rate", "excluded"} <= set(env)
    assert json.loads(out.read_text()) == payload
    text = runner.invoke(app, ["eval", "predict", "--model", str(setup["model"]), "--data", str(setup["test"]),
                               "--samples", "2", "--steps", "1", "--no-simulator"])
    assert text.exit_code == 0 and "world model: accuracy" in text.output and "| Collide/A | model |" in text.output


@pytest.mark.slow  # renders 31 frames x 3 panels; the library path: tests/worldmodel/test_ocp_model.py
def test_worldmodel_show_writes_the_grid_video(setup, tmp_path):
    out = tmp_path / "cmp.mp4"
    result = runner.invoke(app, ["worldmodel", "show", "--model", str(setup["model"]), "--data", str(setup["test"]),
                                 "--episode", "0", "--out", str(out), "--samples", "2", "--size", "48", "--json"])
    if result.exit_code == 2 and "is excluded" in result.output:  # episode 0 contacts too early: take another
        pytest.skip(result.output)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert out.stat().st_size > 0 and summary["size"] == [48, 144] and summary["frames"] == 31


def test_mistakes_are_one_clear_line(setup, tmp_path, tmp_path_factory):
    skills = tmp_path / "skills"
    ObjectDiffusionModel(history=2, horizon=3, hidden_dim=32, num_layers=1, num_heads=2,
                         action_kind="skill").save_pretrained(skills)
    no_mask = _dataset(tmp_path_factory, "ap_nomask", "test", 2, keys=("state", "properties"))
    model, test = str(setup["model"]), str(setup["test"])
    cases = [
        (["eval", "predict", "--model", model, "--data", str(setup["train"])], "scores test splits only"),
        (["eval", "predict", "--model", str(skills), "--data", test, "--train", str(setup["train"])],
         "'skill'-action scenes"),
        (["eval", "predict", "--model", model, "--data", str(no_mask)], "missing obs/object_mask"),
        (["eval", "predict", "--model", str(setup["regressor"]), "--data", test], "not an object world model"),
        (["eval", "predict", "--model", model, "--data", test, "--regressor", model], "not a regressor"),
        (["eval", "predict", "--model", model, "--data", test, "--out", "/proc/foretell-nope/r.json"], "cannot write"),
        (["eval", "predict", "--model", model, "--data", test, "--samples", "0"], "--samples"),
        (["eval", "predict", "--model", str(tmp_path / "none"), "--data", test], "not found"),
        (["worldmodel", "show", "--model", model, "--data", test, "--episode", "99", "--out", str(tmp_path / "x.mp4")],
         "--episode 99 is not in"),
        (["worldmodel", "show", "--model", str(skills), "--data", test, "--out", str(tmp_path / "x.mp4")],
         "'skill'-action scenes"),
        (["worldmodel", "show", "--model", model, "--data", test, "--out", "/proc/foretell-nope/x.mp4"],
         "cannot write"),
    ]
    for argv, phrase in cases:
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert "Traceback" not in result.output
        assert phrase in " ".join(result.output.split()), (argv, result.output)
