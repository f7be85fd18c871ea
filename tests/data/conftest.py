"""Tiny datasets shared by the data tests (32 px, short horizons: the whole folder runs in ~1 min)."""

import os

import pytest

from foretell.data import DatasetConfig, TaskSpec, generate

os.environ.setdefault("MUJOCO_GL", "egl")


def scenario_config(episodes: int = 3, max_steps: int = 8, **kwargs) -> DatasetConfig:
    return DatasetConfig(tasks=(TaskSpec("foretell/Collide-v0", episodes, max_steps=max_steps),), image_size=32,
                         seed=7, **kwargs)


def low_level_config() -> DatasetConfig:
    return DatasetConfig(tasks=(TaskSpec("foretell/BlockStackLowLevel-v0", 2, policy="noisy_expert", noise=0.2,
                                         max_steps=12),), image_size=32,
                         obs_keys=("rgb", "state", "object_mask", "gripper"), seed=3)


@pytest.fixture(scope="session")
def scenario_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario") / "ds"
    generate(scenario_config(), out, progress=False)
    return out


@pytest.fixture(scope="session")
def low_level_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("lowlevel") / "ds"
    generate(low_level_config(), out, progress=False)
    return out


def dataset_bytes(root) -> dict[str, bytes]:
    """Every file of a dataset directory by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
