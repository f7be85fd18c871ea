"""Every registered env: gymnasium's checker, determinism, no NaN over long random rollouts."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from foretell.envs import list_envs

ENV_IDS = sorted(list_envs())


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_each_env_limits_its_own_episodes(env_id):
    """No gymnasium TimeLimit (a snapshot could not restore its counter): the env's max_steps ends it."""
    assert gym.spec(env_id).max_episode_steps is None
    assert gym.make(env_id).unwrapped.max_steps >= 1


def _rollout(env_id: str, seed: int, steps: int):
    env = gym.make(env_id, image_size=48)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    states, images = [obs["state"].copy()], [obs["rgb"].copy()]
    for _ in range(steps):
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        states.append(obs["state"].copy())
        images.append(obs["rgb"].copy())
        if term or trunc:
            break
    env.close()
    return np.stack(states), np.stack(images), obs.get("instruction")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_episode(env_id):
    steps = 4 if env_id == "foretell/BlockStack-v0" else 30
    s1, i1, t1 = _rollout(env_id, 7, steps)
    s2, i2, t2 = _rollout(env_id, 7, steps)
    assert t1 == t2
    assert s1.tobytes() == s2.tobytes()
    assert i1.tobytes() == i2.tobytes()
    s3, _, _ = _rollout(env_id, 8, steps)
    assert s1[0].tobytes() != s3[0].tobytes()


@pytest.mark.parametrize("space", ["A", "B"])
def test_no_nan_over_long_random_rollout_low_level(space):
    env = gym.make("foretell/BlockStackLowLevel-v0", space=space, obs_keys=("state", "object_mask"))
    env.reset(seed=3)
    env.action_space.seed(3)
    for _ in range(400):
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        assert np.all(np.isfinite(obs["state"]))
        assert np.abs(obs["state"][:, :3]).max() < 10.0
        if term or trunc:
            env.reset()
    env.close()


def test_no_nan_over_random_skills():
    env = gym.make("foretell/BlockStack-v0", space="B", obs_keys=("state",))
    env.reset(seed=11)
    env.action_space.seed(11)
    for _ in range(15):
        action = env.action_space.sample()
        action["skill"] = action["skill"] % 2  # keep acting: never declare
        obs, _, term, trunc, _ = env.step(action)
        assert np.all(np.isfinite(obs["state"]))
        if term or trunc:
            env.reset()
    env.close()


def test_observation_contents():
    env = gym.make("foretell/BlockStack-v0", image_size=64)
    obs, info = env.reset(seed=2)
    n = len(info["object_names"])
    assert obs["rgb"].shape == (64, 64, 3) and obs["rgb"].dtype == np.uint8
    assert obs["depth"].dtype == np.float32 and obs["depth"].min() > 0
    seg_ids = set(np.unique(obs["segmentation"]).tolist())
    assert seg_ids <= set(range(-1, n)) and len(seg_ids - {-1}) >= 1
    assert obs["object_mask"].sum() == n
    assert np.all(obs["state"][n:] == 0) and np.allclose(np.linalg.norm(obs["state"][:n, 3:7], axis=1), 1)
    assert obs["instruction"] and info["instruction_canonical"]
    env.close()
