"""``ModelEnsemble``: validation, pooled futures in ``imagine``, loading several runs."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import foretell.envs  # noqa: F401 - registers the envs
from foretell.worldmodel import ModelEnsemble, ObjectDiffusionModel, load_ensemble
from foretell.worldmodel.imagine import imagine

from .conftest import randomise

TINY = {"hidden_dim": 32, "num_layers": 1, "num_heads": 2}


def _skill(seed: int, **kwargs) -> ObjectDiffusionModel:
    torch.manual_seed(seed)
    return randomise(ObjectDiffusionModel(history=1, horizon=1, action_kind="skill", **{**TINY, **kwargs})).eval()


def _plans(names):
    return [[{"skill": "pick_place", "object": names[0], "target": names[1], "dx": 0.01}],
            [{"skill": "pick_place", "object": names[1], "target": "table", "dx": 0.1, "dy": -0.1},
             {"skill": "pick_place", "object": names[0], "target": names[1]}]]


def test_ensemble_pools_each_members_own_futures(scene):
    a, b = _skill(0), _skill(1)
    plans = _plans(scene.object_names)
    pooled = imagine(ModelEnsemble([a, b]), scene, plans, num_samples=3, generator=torch.Generator().manual_seed(5))
    assert pooled.states.shape[:3] == (2, 6, 2)  # C plans x (S x M) samples x T steps
    # member by member from one generator: the first S futures are member a's, the next member b's
    generator = torch.Generator().manual_seed(5)
    first = imagine(a, scene, plans, num_samples=3, generator=generator)
    second = imagine(b, scene, plans, num_samples=3, generator=generator)
    assert torch.equal(pooled.states[:, :3], first.states) and torch.equal(pooled.states[:, 3:], second.states)
    # read-outs over the pool are the members' mean
    goal = gym.make("foretell/BlockStack-v0", obs_keys=("state",)).unwrapped
    goal.reset(seed=4)
    np.testing.assert_allclose(pooled.p_fall(), (first.p_fall() + second.p_fall()) / 2)
    np.testing.assert_allclose(pooled.p_goal_stable(goal.goal),
                               (first.p_goal_stable(goal.goal) + second.p_goal_stable(goal.goal)) / 2)
    again = imagine(ModelEnsemble([a, b]), scene, plans, num_samples=3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again.states, pooled.states)  # seeded: the same futures


def test_ensemble_rejects_what_cannot_be_pooled():
    with pytest.raises(ValueError, match="at least two"):
        ModelEnsemble([_skill(0)])
    with pytest.raises(ValueError, match="share history"):
        ModelEnsemble([_skill(0), randomise(ObjectDiffusionModel(history=2, horizon=1, action_kind="skill", **TINY))])
    with pytest.raises(ValueError, match="share action_kind"):
        ModelEnsemble([_skill(0), randomise(ObjectDiffusionModel(history=1, horizon=1, action_kind="none", **TINY))])
    with pytest.raises(ValueError, match="not an object world model"):
        ModelEnsemble([_skill(0), torch.nn.Linear(2, 2)])


def test_load_ensemble_reads_one_run_or_several(tmp_path):
    for i in range(2):
        _skill(i).save_pretrained(tmp_path / f"m{i}")
    one = load_ensemble(tmp_path / "m0")
    assert isinstance(one, ObjectDiffusionModel)
    both = load_ensemble([tmp_path / "m0", str(tmp_path / "m1")])
    assert isinstance(both, ModelEnsemble) and len(both) == 2 and both.config.action_kind == "skill"
    with pytest.raises(ValueError, match="no world-model run"):
        load_ensemble([])
