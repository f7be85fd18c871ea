"""The first-frame baseline: its metric and classifiers are right, and it runs on a scenario."""

import numpy as np
import pytest

from foretell.envs.measure.first_frame import auroc, collect, cross_validate, first_frame_features


def test_auroc_matches_hand_counts():
    scores = np.array([0.9, 0.8, 0.4, 0.4, 0.1])
    labels = np.array([True, False, True, False, False])
    # positive pairs: 0.9 beats all 3 negatives; 0.4 beats 0.1, ties 0.4 -> 3 + 1 + 0.5 of 6
    assert auroc(scores, labels) == pytest.approx(4.5 / 6)


def test_classifiers_find_a_visible_rule_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    visible = cross_validate(x, x[:, 0] + 0.5 * x[:, 3] > 0, folds=3)
    assert visible["logistic_accuracy"] > 0.85 and visible["mlp_accuracy"] > 0.75
    hidden = cross_validate(x, rng.uniform(size=120) > 0.5, folds=3)
    assert hidden["logistic_accuracy"] < 0.68 and abs(hidden["logistic_auroc"] - 0.5) < 0.18


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
