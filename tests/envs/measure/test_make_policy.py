"""make_policy: every policy by name, noise only where it means something."""

import gymnasium as gym
import pytest

from foretell.envs.measure.episodes import make_policy


@pytest.fixture(scope="module")
def high_level():
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    env.reset(seed=0)
    return env


def test_noisy_high_level_expert_replaces_skills_at_the_noise_rate(high_level):
    always = make_policy(high_level, "noisy_expert", 3, noise=1.0)
    assert all(not isinstance(always()["skill"], str) for _ in range(5))  # sampled from the Dict space
    never = make_policy(high_level, "noisy_expert", 3, noise=0.0)
    assert isinstance(never()["skill"], str)


@pytest.mark.parametrize(("policy", "noise", "message"), [
    ("expert", 0.1, "applies to policy 'noisy_expert' only"),
    ("random", 0.1, "applies to policy 'noisy_expert' only"),
    ("noisy_expert", 1.5, r"noise must be in \[0, 1\]"),
    ("noisy_expert", -0.1, r"noise must be in \[0, 1\]"),
    ("greedy", 0.0, "unknown policy 'greedy'"),
])
def test_bad_policy_requests_raise(high_level, policy, noise, message):
    with pytest.raises(ValueError, match=message):
        make_policy(high_level, policy, 0, noise=noise)


def test_no_expert_for_a_scenario():
    env = gym.make("foretell/Collide-v0", obs_keys=("state",))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="no expert"):
        make_policy(env, "noisy_expert", 0, noise=0.1)
