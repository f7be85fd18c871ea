"""The object world model reads puzzle datasets: one attempt's 40 ms states are the frames."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from foretell.cli import app
from foretell.data import EpisodeFile
from foretell.worldmodel import load_windows


@pytest.fixture(scope="module")
def puzzle_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("puzzles") / "drop"
    result = CliRunner().invoke(app, ["generate", "foretell/PuzzleDrop-v0", "--episodes", "2", "--image-size", "16",
                                      "--obs-keys", "state,properties,object_mask", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_windows_are_the_attempts_states(puzzle_dataset):
    windows = load_windows([puzzle_dataset], history=1, horizon=10)
    assert windows.action_kind == "none" and windows.actions is None
    with EpisodeFile(puzzle_dataset / "episodes" / "ep_000000.h5") as ep:
        attempt, props = ep.attempt(), ep.frames("properties")
        json_attempt = ep.json("attempt")
    states = attempt["states"]  # (F+1, N, 13)
    n = states.shape[1]
    assert states.shape == (101, n, 13) and len(windows) == 2 * (101 - 11 + 1)
    np.testing.assert_allclose(states[..., :3], attempt["positions"])
    np.testing.assert_allclose(states[0, 0, :3], json_attempt["agent_start"], atol=1e-9)
    np.testing.assert_allclose(states[0, 0, 7:10], json_attempt["agent_velocity"][:3], atol=1e-9)
    batch = windows.batch([0])
    np.testing.assert_allclose(batch["history"][0, 0].numpy(), states[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(batch["future"][0, -1].numpy(), states[10], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(batch["properties"][0].numpy(), props[0, :n], rtol=1e-6)
    assert batch["mask"].all()


def test_puzzle_dataset_without_attempt_states_is_refused(puzzle_dataset, tmp_path):
    import shutil

    import h5py

    copy = tmp_path / "old"
    shutil.copytree(puzzle_dataset, copy)
    for path in (copy / "episodes").glob("*.h5"):
        with h5py.File(path, "a") as f:
            del f["attempt/states"]
    with pytest.raises(ValueError, match="without attempt/states"):
        load_windows([copy], history=1, horizon=4)
