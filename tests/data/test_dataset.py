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


def test_time_windows(scenario_dataset):
    ds = EpisodeDataset(scenario_dataset, keys=("time",), history=2, horizon=1, episodes=[1])
    sample = ds[3]
    assert sample["history"]["time"].dtype == torch.float64
    np.testing.assert_allclose(sample["history"]["time"].numpy(), [0.12, 0.16])
    np.testing.assert_allclose(sample["future"]["time"].numpy(), [0.20])


def test_requests_are_checked_up_front(mixed_dataset):
    """Keys some episodes of a mixed dataset lack, and episodes outside it, fail in __init__, not mid-epoch."""
    with pytest.raises(ValueError, match=r"'gripper' is missing from the 1 selected episode\(s\) of "
                                         r"foretell/Collide-v0 \(e\.g\. episode 0\)"):
        EpisodeDataset(mixed_dataset, keys=("state", "gripper"))
    with pytest.raises(ValueError, match=r"'action' is missing .* foretell/BlockStack-v0 \(e\.g\. episode 1\)"):
        EpisodeDataset(mixed_dataset, keys=("state", "action"), episodes=[2, 1])
    with pytest.raises(ValueError, match="different lengths"):
        EpisodeDataset(mixed_dataset, keys=("action",), episodes=[2, 3])
    with pytest.raises(ValueError, match=r"episodes \[6, -1\] are outside .* episodes 0\.\.5"):
        EpisodeDataset(mixed_dataset, keys=("state",), episodes=[0, 6, -1])
    low_level = EpisodeDataset(mixed_dataset, keys=("gripper", "action", "time"), history=2, horizon=1, episodes=[2])
    assert low_level[0]["action"].shape == (2, 4)
    puzzles = EpisodeDataset(mixed_dataset, keys=("state", "action"), history=1, horizon=1, episodes=[3, 4, 5])
    assert len(puzzles) == 3 and puzzles[0]["action"].shape == (1, 3)


def test_missing_episode_of_an_unfinished_dataset_is_named(scenario_dataset, tmp_path):
    import json
    import shutil

    out = tmp_path / "unfinished"
    shutil.copytree(scenario_dataset, out)
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "status": "incomplete"}))
    (out / "episodes" / "ep_000001.h5").unlink()
    assert EpisodeDataset(out, keys=("state",)).episodes.tolist() == [0, 2]
    with pytest.raises(ValueError, match="episode 1 is not on disk"):
        EpisodeDataset(out, keys=("state",), episodes=[1])


def test_schema_1_datasets_stay_readable(schema1_dataset):
    ds = EpisodeDataset(schema1_dataset, keys=("rgb", "state"), history=2, horizon=1)
    assert ds[0]["history"]["rgb"].shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match=r"'time' is missing .*schema version 1 store no obs/time"):
        EpisodeDataset(schema1_dataset, keys=("time",))


READ_WITHOUT_ENVS = """
import sys
from foretell.data import EpisodeDataset, dataset_info, read_episode, read_meta, validate_dataset
root = sys.argv[1]
ds = EpisodeDataset(root, keys=("rgb", "state", "time", "caption", "label"), history=2, horizon=1)
assert ds[0]["history"]["state"].shape == (2, 6, 13)
read_meta(root), dataset_info(root), read_episode(root + "/episodes/ep_000000.h5")
assert validate_dataset(root)["ok"]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("mujoco", "gymnasium") or m.startswith("foretell.envs"))
assert not heavy, heavy
"""


def test_reading_imports_no_env_code(scenario_dataset):
    """A training machine may lack MuJoCo and gymnasium, and renaming an env must not break old datasets."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", READ_WITHOUT_ENVS, str(scenario_dataset)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
