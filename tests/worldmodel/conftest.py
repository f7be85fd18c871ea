"""Tiny datasets and models shared by the world-model tests (state only, 16 px, short episodes)."""

import os

import pytest
import torch

from foretell.data import DatasetConfig, TaskSpec, generate

os.environ.setdefault("MUJOCO_GL", "egl")

STATE_KEYS = ("state", "properties", "object_mask")
TINY_MODEL = {"history": 2, "horizon": 3, "hidden_dim": 32, "num_layers": 1, "num_heads": 2}
"""A model small enough to train a few steps in a second on one core."""


def _dataset(factory, name, tasks, obs_keys=STATE_KEYS, seed=0, **kwargs):
    out = factory.mktemp(name) / "ds"
    generate(DatasetConfig(tasks=tasks, image_size=16, obs_keys=obs_keys, seed=seed, **kwargs), out, progress=False)
    return out


@pytest.fixture(scope="session")
def collide_dataset(tmp_path_factory):
    """Four Collide episodes of 20 frames (2-6 objects)."""
    return _dataset(tmp_path_factory, "collide", (TaskSpec("foretell/Collide-v0", 4, max_steps=19),))


@pytest.fixture(scope="session")
def skills_dataset(tmp_path_factory):
    """High-level BlockStack: one frame per skill (action_json)."""
    return _dataset(tmp_path_factory, "skills", (TaskSpec("foretell/BlockStack-v0", 3, policy="noisy_expert",
                                                          noise=0.3, max_steps=4),), seed=1)


@pytest.fixture(scope="session")
def low_level_dataset(tmp_path_factory):
    """BlockStackLowLevel: a 4-vector action per 40 ms step."""
    return _dataset(tmp_path_factory, "lowlevel", (TaskSpec("foretell/BlockStackLowLevel-v0", 1,
                                                            policy="noisy_expert", noise=0.1, max_steps=12),))


@pytest.fixture(scope="session")
def no_state_dataset(tmp_path_factory):
    """A dataset that stored no object states."""
    return _dataset(tmp_path_factory, "nostate", (TaskSpec("foretell/Collide-v0", 1, max_steps=4),),
                    obs_keys=("object_mask",))


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every weight a random value: a fresh model's zero-initialised output layer and gates
    would make many properties hold trivially."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return model


def random_states(batch: int, steps: int, objects: int, seed: int = 0) -> torch.Tensor:
    """Plausible states ``(B, T, N, 13)``: unit quaternions, centimetre-scale positions."""
    g = torch.Generator().manual_seed(seed)
    quat = torch.nn.functional.normalize(torch.randn(batch, steps, objects, 4, generator=g), dim=-1)
    return torch.cat([0.1 * torch.randn(batch, steps, objects, 3, generator=g), quat,
                      0.3 * torch.randn(batch, steps, objects, 6, generator=g)], dim=-1)


@pytest.fixture(scope="session")
def scene():
    """A seeded 4-object BlockStack scene as the planner observes it (``SceneState.from_env``)."""
    import gymnasium as gym

    import foretell.envs  # noqa: F401 - registers the envs
    from foretell.worldmodel.imagine import SceneState

    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    env.reset(seed=4)
    out = SceneState.from_env(env)
    env.close()
    return out
