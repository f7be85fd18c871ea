"""``imagine``: shapes, batching, determinism, plan validation, and read-outs on its output."""

import numpy as np
import pytest
import torch

import foretell.envs  # noqa: F401 - registers the envs
from foretell.worldmodel import ObjectDiffusionModel
from foretell.worldmodel.imagine import SceneState, imagine

from .conftest import randomise

TINY = {"hidden_dim": 32, "num_layers": 1, "num_heads": 2}


@pytest.fixture(scope="module")
def skill_model():
    return randomise(ObjectDiffusionModel(history=1, horizon=1, action_kind="skill", **TINY)).eval()


def _plans(names):
    return [[{"skill": "pick_place", "object": names[0], "target": names[1], "dx": 0.01}],
            [{"skill": "push", "object": names[1], "direction": "left", "distance": 0.05},
             {"skill": "pick_place", "object": names[1], "target": "table", "dx": 0.1, "dy": -0.1},
             {"skill": "declare_infeasible"}],
            []]


def test_from_env_and_shapes(scene, skill_model):
    n = len(scene.object_names)
    assert scene.states.shape == (1, n, 13) and scene.mask.all() and scene.properties.shape == (n, 14)
    calls = []
    original = skill_model.sample

    def counting(history, *args, **kwargs):
        calls.append(history.shape[0])
        return original(history, *args, **kwargs)

    skill_model.sample = counting
    try:
        out = imagine(skill_model, scene, _plans(scene.object_names), num_samples=4,
                      generator=torch.Generator().manual_seed(0))
    finally:
        del skill_model.sample
    assert out.states.shape == (3, 4, 3, n, 13)
    assert out.lengths.tolist() == [1, 3, 0]
    assert calls == [12, 12]  # one batch of C x S per step; step 3 (declare_infeasible, padding) moves nothing
    states = out.states
    np.testing.assert_array_equal(states[2], np.broadcast_to(scene.states[-1], states[2].shape))  # empty plan
    assert torch.equal(states[1, :, 2], states[1, :, 1])  # declare_infeasible: no motion
    assert torch.equal(states[0, :, 1], states[0, :, 0])  # past the plan's end: carried over
    assert out.p_goal_stable(["tower_height(1)"]).shape == (3,)
    assert out.p_fall().shape == (3, n) and out.p_step_ok().shape == (3, 3)
    mean, std = out.final_positions()
    assert mean.shape == (3, n, 3) and std.shape == (3, n, 3)
    assert isinstance(out.describe_failure(0, ["tower_height(2)"]), str)


def test_deterministic_for_a_fixed_generator(scene, skill_model):
    plans = _plans(scene.object_names)
    a = imagine(skill_model, scene, plans, 3, torch.Generator().manual_seed(7)).states
    b = imagine(skill_model, scene, plans, 3, torch.Generator().manual_seed(7)).states
    c = imagine(skill_model, scene, plans, 3, torch.Generator().manual_seed(8)).states
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_invalid_plans_raise(scene, skill_model):
    names = scene.object_names
    bad = [
        ([[{"skill": "pick_place", "object": "pink_cube", "target": names[0]}]], "unknown object 'pink_cube'"),
        ([[{"skill": "pick_place", "object": names[0], "target": "moon"}]], "unknown target 'moon'"),
        ([[{"skill": "pick_place", "object": names[0], "target": names[0]}]], "on itself"),
        ([[{"skill": "fly", "object": names[0]}]], "unknown skill 'fly'"),
        ([[{"skill": "push", "object": names[0], "direction": "up", "distance": 0.1}]], "direction"),
        ([[{"skill": "push", "object": names[0], "direction": 0, "distance": 0.9}]], "distance"),
        ([[{"skill": "pick_place", "object": names[0], "target": "table", "dx": 0.5}]], "dx"),
        ([], "plans is empty"),
    ]
    for plans, message in bad:
        with pytest.raises(ValueError, match=message):
            imagine(skill_model, scene, plans, 2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="plans=None"):
        imagine(randomise(ObjectDiffusionModel(history=2, horizon=3, **TINY)), scene, _plans(names), 2)


def test_passive_rollout_chains_horizon_chunks(scene):
    model = randomise(ObjectDiffusionModel(history=2, horizon=3, **TINY)).eval()
    n = len(scene.object_names)
    props = None
    passive = SceneState(scene.states, scene.mask, props, scene.object_names, scene.objects)
    out = imagine(model, passive, None, num_samples=2, generator=torch.Generator().manual_seed(0), steps=7)
    assert out.states.shape == (1, 2, 7, n, 13) and out.lengths.tolist() == [7]
    assert torch.isfinite(out.states).all()
    with pytest.raises(ValueError, match="skill model"):
        imagine(randomise(ObjectDiffusionModel(history=1, horizon=1, action_kind="skill", **TINY)), passive,
                None, steps=3)
