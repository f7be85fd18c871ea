"""Tiny datasets shared by the data tests (32 px or less, short horizons: the folder runs in a few minutes)."""

import json
import os
from pathlib import Path

import h5py
import pytest

from foretell.data import DatasetConfig, TaskSpec, generate

os.environ.setdefault("MUJOCO_GL", "egl")

PUZZLE_IDS = ("foretell/PuzzleLaunch-v0", "foretell/PuzzleTopple-v0", "foretell/PuzzleDrop-v0")


def scenario_config(episodes: int = 3, max_steps: int = 8, **kwargs) -> DatasetConfig:
    return DatasetConfig(tasks=(TaskSpec("foretell/Collide-v0", episodes, max_steps=max_steps),), image_size=32,
                         seed=7, **kwargs)


def low_level_config() -> DatasetConfig:
    return DatasetConfig(tasks=(TaskSpec("foretell/BlockStackLowLevel-v0", 2, policy="noisy_expert", noise=0.2,
                                         max_steps=12),), image_size=32,
                         obs_keys=("rgb", "state", "object_mask", "gripper"), seed=3)


def mixed_config() -> DatasetConfig:
    """One episode of every family (episode 1 is BlockStack-v0, 2 low-level control, 3-5 the puzzles)."""
    tasks = (TaskSpec("foretell/Collide-v0", 1, max_steps=4), TaskSpec("foretell/BlockStack-v0", 1, max_steps=3),
             TaskSpec("foretell/BlockStackLowLevel-v0", 1, max_steps=4), *(TaskSpec(p, 1) for p in PUZZLE_IDS))
    return DatasetConfig(tasks=tasks, image_size=16, obs_keys=("rgb", "state", "object_mask", "gripper"), seed=1)


def skills_config() -> DatasetConfig:
    """High-level BlockStack: one frame per skill, seconds of simulated time apart."""
    return DatasetConfig(tasks=(TaskSpec("foretell/BlockStack-v0", 2, max_steps=3),), image_size=32,
                         obs_keys=("rgb", "state"), seed=2)


def _generated(tmp_path_factory, name: str, config) -> Path:
    out = tmp_path_factory.mktemp(name) / "ds"
    generate(config, out, progress=False)
    return out


@pytest.fixture(scope="session")
def scenario_dataset(tmp_path_factory):
    return _generated(tmp_path_factory, "scenario", scenario_config())


@pytest.fixture(scope="session")
def low_level_dataset(tmp_path_factory):
    return _generated(tmp_path_factory, "lowlevel", low_level_config())


@pytest.fixture(scope="session")
def mixed_dataset(tmp_path_factory):
    return _generated(tmp_path_factory, "mixed", mixed_config())


@pytest.fixture(scope="session")
def skills_dataset(tmp_path_factory):
    return _generated(tmp_path_factory, "skills", skills_config())


@pytest.fixture(scope="session")
def schema1_dataset(scenario_dataset, tmp_path_factory):
    """``scenario_dataset`` as an older foretell wrote it: schema version 1, no obs/time, no versions or
    envs in meta.json (SHA256SUMS recomputed, so it is a sound dataset of that version)."""
    import shutil

    from foretell.data.generate import write_checksums
    from foretell.data.schema import read_meta

    out = tmp_path_factory.mktemp("schema1") / "ds"
    shutil.copytree(scenario_dataset, out)
    for path in sorted((out / "episodes").glob("ep_*.h5")):
        with h5py.File(path, "r+") as f:
            del f["obs/time"]
            f.attrs["schema_version"] = 1
    meta = json.loads((out / "meta.json").read_text())
    for key in ("versions", "envs"):
        meta.pop(key, None)
    meta["schema_version"] = 1
    (out / "meta.json").write_text(json.dumps(meta))
    write_checksums(read_meta(out).config, out)
    return out


def dataset_bytes(root) -> dict[str, bytes]:
    """Every file of a dataset directory by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
