"""EpisodeDataset: windows, shapes, DataLoader workers."""

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from foretell.data import EpisodeDataset, read_episode


def test_windows_and_shapes(scenario_dataset):
    ds = EpisodeDataset(scenario_dataset, keys=("rgb", "depth", "state", "caption", "label"), history=3, horizon=2)
    assert len(ds) == 3 * (9 - 5 + 1)
    sample = ds[len(ds) - 1]
    assert sample["history"]["rgb"].shape == (3, 32, 32, 3) and sample["history"]["rgb"].dtype == torch.uint8
    assert sample["future"]["state"].shape == (2, 6, 13) and sample["future"]["depth"].shape == (2, 32, 32)
    assert (sample["episode_index"], sample["t"]) == (2, 4)
    stored = read_episode(scenario_dataset / "episodes" / "ep_000002.h5")
    np.testing.assert_array_equal(sample["future"]["rgb"].numpy(), stored["obs"]["rgb"][7:9])
    assert sample["caption"] == stored["text"]["caption"] and isinstance(sample["label"], bool)


def test_stride_and_episode_subset(scenario_dataset):
    ds = EpisodeDataset(scenario_dataset, keys=("state",), history=2, horizon=0, stride=3, episodes=[1])
    assert len(ds) == 3 and ds.locate(2) == (1, 6) and "future" not in ds[0]
    with pytest.raises(IndexError):
        ds[3]


def test_actions_align_with_frames(low_level_dataset):
    ds = EpisodeDataset(low_level_dataset, keys=("gripper", "action"), history=2, horizon=3)
    sample = ds[0]
    assert sample["action"].shape == (4, 4) and sample["history"]["gripper"].shape == (2, 4)
    stored = read_episode(low_level_dataset / "episodes" / "ep_000000.h5")
    np.testing.assert_array_equal(sample["action"].numpy(), stored["action"][0:4])


def test_bad_arguments(scenario_dataset):
    with pytest.raises(ValueError, match="unknown keys"):
        EpisodeDataset(scenario_dataset, keys=("pixels",))
    with pytest.raises(ValueError, match="not stored"):
        EpisodeDataset(scenario_dataset, keys=("gripper",))
    with pytest.raises(ValueError, match="history"):
        EpisodeDataset(scenario_dataset, history=0)


def test_pickles_without_open_handles_and_loads_with_workers(scenario_dataset):
    ds = EpisodeDataset(scenario_dataset, keys=("rgb", "state"), history=2, horizon=1)
    ds[0]  # opens a handle in this process
    clone = pickle.loads(pickle.dumps(ds))
    assert not clone._handles and clone[0]["history"]["rgb"].shape == (2, 32, 32, 3)
    loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, pin_memory=False,
                        generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert sum(len(b["t"]) for b in batches) == len(ds)
    assert batches[0]["history"]["rgb"].shape[1:] == (2, 32, 32, 3)
