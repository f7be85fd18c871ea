"""The exploration policy: seeded, valid skills, and the placements the expert avoids."""

import gymnasium as gym
import pytest

import foretell.envs  # noqa: F401
from foretell.envs.measure.episodes import make_policy


def _actions(seed: int, steps: int = 12) -> list[dict]:
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    env.reset(seed=seed)
    act = make_policy(env, "explore", seed)
    out = []
    for _ in range(steps):
        action = act()
        out.append(action)
        *_, terminated, truncated, _ = env.step(action)  # the env accepts every action it makes
        if terminated or truncated:
            break
    env.close()
    return out


def test_explore_is_seeded_and_stacks():
    first, again = _actions(3), _actions(3)
    assert first == again
    places = [a for a in first if a["skill"] == "pick_place"]
    assert all(a["object"] != a["target"] for a in places)
    assert any(a["target"] != "table" for a in places)


def test_explore_places_on_balls_across_seeds():
    """What it is for: placements on balls, which the expert never makes."""
    on_ball = 0
    for seed in range(6):
        env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
        env.reset(seed=seed)
        shapes = {o.name: o.shape for o in env.unwrapped.objects}
        act = make_policy(env, "explore", seed)
        for _ in range(8):
            action = act()
            on_ball += action["skill"] == "pick_place" and shapes.get(action["target"]) == "ball"
            *_, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        env.close()
    assert on_ball >= 1


def test_explore_refuses_low_level_env():
    env = gym.make("foretell/BlockStackLowLevel-v0", obs_keys=("state",))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="explore"):
        make_policy(env, "explore", 0)
    env.close()
