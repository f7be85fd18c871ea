"""Skill validation: bad actions get clear errors that name the valid choices."""

import json

import gymnasium as gym
import numpy as np
import pytest

from foretell.envs import SKILL_SCHEMA, skill_schema_json
from foretell.envs.blockstack.skills import direction_degrees


@pytest.fixture(scope="module")
def env():
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    env.reset(seed=0)
    yield env
    env.close()


def test_unknown_object_lists_valid_names(env):
    names = env.unwrapped.object_names
    with pytest.raises(ValueError, match="unknown object 'purple_unicorn'") as err:
        env.step({"skill": "pick_place", "object": "purple_unicorn", "target": "table"})
    assert all(n in str(err.value) for n in names)


def test_unknown_target_mentions_table(env):
    with pytest.raises(ValueError, match="or 'table'"):
        env.step({"skill": "pick_place", "object": env.unwrapped.object_names[0], "target": "floor"})


def test_unknown_skill(env):
    with pytest.raises(ValueError, match="unknown skill 'juggle'"):
        env.step({"skill": "juggle", "object": env.unwrapped.object_names[0]})


def test_place_on_itself(env):
    name = env.unwrapped.object_names[0]
    with pytest.raises(ValueError, match="on itself"):
        env.step({"skill": "pick_place", "object": name, "target": name})


def test_out_of_workspace_placement(env):
    with pytest.raises(ValueError, match="out of range"):
        env.step({"skill": "pick_place", "object": env.unwrapped.object_names[0], "target": "table", "dx": 0.9})


def test_push_validation(env):
    name = env.unwrapped.object_names[0]
    with pytest.raises(ValueError, match="distance=2.0 is out of range"):
        env.step({"skill": "push", "object": name, "direction": 0, "distance": 2.0})
    with pytest.raises(ValueError, match="unknown push direction"):
        env.step({"skill": "push", "object": name, "direction": "sideways", "distance": 0.05})
    with pytest.raises(ValueError, match="needs 'direction' and 'distance'"):
        env.step({"skill": "push", "object": name})


def test_direction_words():
    assert direction_degrees("+y") == 90.0
    assert direction_degrees("left") == 270.0
    assert direction_degrees("45") == 45.0
    assert direction_degrees(-30) == -30.0
    for bad in (None, True, [90], "north-ish"):
        with pytest.raises(ValueError, match="direction"):
            direction_degrees(bad)


def test_out_of_range_index_is_a_reported_noop():
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    obs, info = env.reset(seed=0)
    n = len(info["object_names"])
    assert n < 6
    before = obs["state"].copy()
    obs, reward, terminated, _, info = env.step({"skill": 0, "object": 5, "target": 0,
                                                 "params": np.zeros(3, np.float32)})
    assert "names no object" in info["skill"]["error"]
    assert reward == 0.0 and not terminated
    np.testing.assert_allclose(obs["state"][:, :3], before[:, :3], atol=1e-3)


def test_schema_is_json_and_complete():
    schema = json.loads(skill_schema_json())
    assert set(schema) == {"pick_place", "push", "declare_infeasible"} == set(SKILL_SCHEMA)
    assert schema["pick_place"]["required"] == ["object", "target"]
    assert schema["push"]["params"]["distance"]["maximum"] > 0


def test_wait_lets_a_moving_scene_settle_without_spending_a_step():
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    env.reset(seed=0)
    base = env.unwrapped
    base.intervene({f"{base.object_names[0]}.velocity": [0.0, 0.0, 1.0]})  # thrown up: it lands and bounces
    steps = base.elapsed_steps
    *_, truncated, info = env.step({"skill": "wait", "seconds": 0.05})
    assert info["skill"]["name"] == "wait" and info["skill"]["timeout"] and not info["stable"] and not truncated
    obs, reward, terminated, truncated, info = env.step({"skill": "wait"})  # up to 5 s: it comes to rest
    assert info["stable"] and not info["skill"]["timeout"] and not truncated
    assert reward == float(info["success"]) and terminated == info["success"]
    assert base.elapsed_steps == steps  # no skill ran: not a step of the max_steps budget
    assert np.abs(obs["state"][:, 7:]).max() < 0.1
    for bad, why in ((0, "must be > 0"), (-1, "out of range"), (10.5, "out of range"), ("soon", "a number")):
        with pytest.raises(ValueError, match=f"wait seconds.*{why}"):
            env.step({"skill": "wait", "seconds": bad})
    env.close()
