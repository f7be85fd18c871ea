"""The privileged expert on a few seeds (the 200-seed measurement is `foretell eval expert`)."""

import gymnasium as gym
import pytest

from foretell.envs.blockstack.expert import tower_order
from foretell.envs.measure.episodes import evaluate_expert, run_episode

from ..helpers import ball, cube, plate


@pytest.mark.parametrize("space", ["A", "B"])
def test_expert_solves_a_few_episodes(space):
    result = evaluate_expert("foretell/BlockStack-v0", episodes=6, space=space, seed=100)
    assert result["episodes"] == 6
    assert result["success_rate"] >= 5 / 6


def test_expert_declares_infeasible():
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    env.reset(seed=0, options={"objects": [ball("blue_ball", "blue", 0.0, 0.0), cube("red_cube", "red", 0.1, 0.1)],
                               "goal": ["on(red_cube, blue_ball)"]})
    from foretell.envs.blockstack.expert import BlockStackExpert

    assert BlockStackExpert(env).act() == {"skill": "declare_infeasible"}


def test_expert_builds_a_tower_with_the_ball_on_top():
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    options = {"objects": [ball("blue_ball", "blue", 0.0, 0.0), cube("red_cube", "red", 0.12, 0.1),
                           plate("green_plate", "green", -0.12, -0.1)], "goal": ["tower_height(3)"]}
    summary = run_episode(env, "expert", seed=0, options=options)
    assert summary["success"]
    objects = env.unwrapped.objects
    assert [objects[i].name for i in tower_order(objects, [0, 1, 2], 3)] == ["green_plate", "red_cube", "blue_ball"]


def test_low_level_expert_stacks_with_end_effector_deltas():
    env = gym.make("foretell/BlockStackLowLevel-v0", obs_keys=("state",))
    options = {"objects": [cube("red_cube", "red", 0.0, 0.0), cube("blue_cube", "blue", 0.12, -0.1)],
               "goal": ["on(blue_cube, red_cube)"]}
    summary = run_episode(env, "expert", seed=0, options=options)
    assert summary["success"] and summary["steps"] < 200
    assert env.unwrapped.tabletop.held == -1
