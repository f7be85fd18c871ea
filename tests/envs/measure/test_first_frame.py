"""The first-frame baseline: its metric and classifiers are right, and it runs on a scenario."""

import numpy as np
import pytest

from foretell.envs.measure.first_frame import collect, cross_validate, first_frame_features


def test_classifiers_find_a_visible_rule_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    visible = cross_validate(x, x[:, 0] + 0.5 * x[:, 3] > 0, folds=3)
    assert visible["logistic_accuracy"] > 0.85 and visible["mlp_accuracy"] > 0.75
    hidden = cross_validate(x, rng.uniform(size=120) > 0.5, folds=3)
    assert hidden["logistic_accuracy"] < 0.68 and abs(hidden["logistic_auroc"] - 0.5) < 0.18
    assert visible["logistic_brier"] < hidden["logistic_brier"] and 0.0 <= visible["mlp_ece"] <= 1.0


def test_folds_are_stratified_and_deterministic():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 4)), np.arange(40) < 8  # 8 positives: at least one in every fold of 5
    first = cross_validate(x, y, folds=5, seed=3)
    assert first == cross_validate(x, y, folds=5, seed=3) and first["majority_accuracy"] == 0.8


def test_features_show_only_what_a_still_frame_shows():
    features, labels = collect("foretell/Collide-v0", range(3))
    assert features.shape[0] == 3 and labels.dtype == bool
    import gymnasium as gym

    env = gym.make("foretell/Collide-v0", obs_keys=("state",))
    env.reset(seed=0)
    u = env.unwrapped
    before = first_frame_features(env)
    u.initial_velocities = {k: -v for k, v in u.initial_velocities.items()}  # invisible in a still
    for o in u.initial_objects:
        o.mass *= 1.5
    assert np.array_equal(before, first_frame_features(env))


def test_too_few_episodes_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 10 episodes"):
        cross_validate(np.zeros((6, 3)), np.zeros(6, dtype=bool), folds=5)
    with pytest.raises(ValueError, match="episodes of each label"):
        cross_validate(np.zeros((20, 3)), np.arange(20) < 3, folds=5)
