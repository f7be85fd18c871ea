"""Skill-outcome evaluation end to end on a tiny BlockStack dataset with a tiny model."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from foretell.cli import app
from foretell.worldmodel import ModelEnsemble, ObjectDiffusionModel
from foretell.worldmodel.skills import evaluate_skill_outcomes, placement, predict_steps, read_skill_steps

from .conftest import randomise

TINY = {"hidden_dim": 32, "num_layers": 1, "num_heads": 2}


def test_read_skill_steps(skills_dataset):
    steps = read_skill_steps(skills_dataset)
    assert steps and all(s["action"].get("skill") not in ("declare_infeasible", 2) for s in steps)
    for s in steps:
        assert s["history"].shape[1:] == (6, 13) and len(s["history"]) == s["step"] + 1
        assert s["after"].shape == (6, 13) and s["goal"] and len(s["objects"]) == len(s["names"])


def test_evaluate_end_to_end(skills_dataset, tmp_path):
    model = randomise(ObjectDiffusionModel(history=2, horizon=2, action_kind="skill", **TINY)).eval()
    result = evaluate_skill_outcomes(model, [skills_dataset], num_samples=3, seed=0, simulator=True)
    r = result["datasets"][str(skills_dataset)]
    assert r["steps"] == len(read_skill_steps(skills_dataset))
    assert r["derived_truth_agreement"] == 1.0  # the derived truth is the env's own on feasible goals
    for name in ("model", "majority", "persistence", "simulator"):
        assert {"accuracy", "auroc", "brier", "ece"} <= set(r[name])
        assert 0.0 <= r[name]["accuracy"] <= 1.0
    assert r["simulator"]["accuracy"] >= 0.5
    placements = r["placements"]  # per target shape: the planner's question
    count = sum(placement(s) is not None for s in read_skill_steps(skills_dataset))
    assert placements["all"]["n"] == count > 0
    assert sum(v["n"] for shape, v in placements.items() if shape != "all") == count
    assert placements["all"]["stay_rate"] >= 0.5  # the expert's placements mostly stay
    probs = predict_steps(model, read_skill_steps(skills_dataset), num_samples=3, seed=1)
    again = predict_steps(model, read_skill_steps(skills_dataset), num_samples=3, seed=1)
    assert ((probs >= 0) & (probs <= 1)).all() and np.array_equal(probs, again)
    run = tmp_path / "model"
    model.save_pretrained(run)
    res = CliRunner().invoke(app, ["eval", "skills", "--model", str(run), "--data", str(skills_dataset),
                                   "--samples", "2", "--json", "--out", str(tmp_path / "skills.json")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["num_samples"] == 2 and out["tolerance"] == 0.02
    assert json.loads((tmp_path / "skills.json").read_text()) == out
    text = CliRunner().invoke(app, ["eval", "skills", "--model", str(run), "--data", str(skills_dataset),
                                    "--samples", "2"])
    assert text.exit_code == 0 and "model" in text.stdout and "persistence" in text.stdout
    with pytest.raises(ValueError, match="skill model"):
        predict_steps(ObjectDiffusionModel(history=1, horizon=1, **TINY), read_skill_steps(skills_dataset))


def test_an_ensemble_pools_its_members_outcomes(skills_dataset, tmp_path):
    a = randomise(ObjectDiffusionModel(history=1, horizon=1, action_kind="skill", **TINY), seed=1).eval()
    b = randomise(ObjectDiffusionModel(history=1, horizon=1, action_kind="skill", **TINY), seed=2).eval()
    steps = read_skill_steps(skills_dataset)
    pooled = predict_steps(ModelEnsemble([a, b]), steps, num_samples=3, seed=1)
    # one generator: the first member draws exactly what it draws alone, the second what follows
    first = predict_steps(a, steps, num_samples=3, seed=1)
    second = 2 * pooled - first
    assert np.allclose(second * 3, np.round(second * 3)) and ((second > -1e-9) & (second < 1 + 1e-9)).all()
    assert np.array_equal(pooled, predict_steps(ModelEnsemble([a, b]), steps, num_samples=3, seed=1))
    runs = []
    for name, model in (("a", a), ("b", b)):
        model.save_pretrained(tmp_path / name)
        runs += ["--model", str(tmp_path / name)]
    res = CliRunner().invoke(app, ["eval", "skills", *runs, "--data", str(skills_dataset), "--samples", "3"])
    assert res.exit_code == 0, res.output
    assert "3 samples x 2 model(s)" in res.stdout
