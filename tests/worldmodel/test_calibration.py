"""Platt scaling of sampled probabilities: it recovers a known miscalibration, falls back to the
pooled map, and refuses what it cannot fit."""

import numpy as np
import pytest

from foretell.metrics import binary_metrics
from foretell.worldmodel.calibration import POOLED, apply_maps, cross_validate, fit_family_maps, fit_platt


def _shifted(rng, n, num_samples=16, shift=-1.5):
    """Shares of S samples from a model whose true probability is sigmoid(logit(q) + shift)."""
    q = rng.uniform(0.05, 0.95, n)
    truth = 1 / (1 + np.exp(-(np.log(q / (1 - q)) + shift)))
    probs = rng.binomial(num_samples, q) / num_samples
    return probs, rng.random(n) < truth


def test_platt_map_moves_a_shifted_threshold_back():
    rng = np.random.default_rng(0)
    probs, labels = _shifted(rng, 2000)
    m = fit_platt(probs, labels, 16)
    assert m.intercept < -0.7 and 0.3 < m.slope < 1.5 and m.n == 2000
    test_p, test_y = _shifted(rng, 2000)
    raw, cal = binary_metrics(test_p, test_y), binary_metrics(m(test_p), test_y)
    assert cal["brier"] < raw["brier"] and cal["ece"] < raw["ece"] and cal["accuracy"] > raw["accuracy"]
    assert np.all(np.isfinite(m([0.0, 1.0])))  # the clipped shares keep 0 and 1 finite


def test_family_maps_fall_back_to_the_pooled_map():
    rng = np.random.default_rng(1)
    big, small = _shifted(rng, 200), _shifted(rng, 5)
    one_class = (np.full(40, 0.5), np.zeros(40, bool))
    records = {name: {"probs": p, "labels": y} for name, (p, y) in
               {"Support": big, "Roll": small, "Drop": one_class}.items()}
    maps = fit_family_maps(records, 16)
    assert set(maps) == {"Support", POOLED} and maps[POOLED].n == 245
    assert apply_maps(maps, "Roll", [0.5]) == pytest.approx(maps[POOLED]([0.5]).tolist())
    assert apply_maps(maps, "Support", [0.5]) == pytest.approx(maps["Support"]([0.5]).tolist())


def test_fit_platt_refuses_bad_input():
    with pytest.raises(ValueError, match="both classes"):
        fit_platt([0.2, 0.4], [True, True], 16)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_platt([0.2, 1.4], [True, False], 16)
    with pytest.raises(ValueError, match="equal length"):
        fit_platt([0.2], [True, False], 16)


def test_cross_validation_scores_held_out_folds():
    rng = np.random.default_rng(2)
    records = {"Support": dict(zip(("probs", "labels"), _shifted(rng, 300), strict=True)),
               "Drop": dict(zip(("probs", "labels"), _shifted(rng, 60, shift=0.0), strict=True))}
    result = cross_validate(records, 16, folds=5, seed=0)
    assert set(result["per_family"]) == {"Support", "Drop"} and result["folds"] == 5
    support = result["per_family"]["Support"]
    assert support["calibrated"]["brier"] < support["raw"]["brier"]  # the shifted family gains out of fold
    assert result["calibrated"]["brier"] < result["raw"]["brier"]
    assert result == cross_validate(records, 16, folds=5, seed=0)  # seeded
