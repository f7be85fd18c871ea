"""Generation: determinism across workers and backends, crash safety (kill -9) and resume."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from foretell.data import (
    DatasetConfig,
    TaskSpec,
    episode_seeds,
    generate,
    read_episode,
    read_meta,
    validate_dataset,
)
from foretell.envs.sim.cameras import CAMERA_VERSION

from .conftest import PUZZLE_IDS, dataset_bytes, scenario_config

CLI = [sys.executable, "-m", "foretell.cli"]


def test_episode_seeds_are_independent_and_split_specific():
    assert episode_seeds(0, "train", 5) == episode_seeds(0, "train", 5)
    assert episode_seeds(0, "train", 5) != episode_seeds(0, "train", 6)
    assert episode_seeds(0, "train", 5) != episode_seeds(0, "test", 5)
    assert episode_seeds(0, "train", 5) != episode_seeds(1, "train", 5)


def test_meta_and_episode_content(scenario_dataset):
    meta = read_meta(scenario_dataset)
    assert meta.status == "complete" and meta.counts["total"]["episodes"] == 3
    episode = read_episode(scenario_dataset / "episodes" / "ep_000001.h5")
    attrs = episode["attrs"]
    assert (attrs["env_seed"], attrs["policy_seed"]) == episode_seeds(7, "train", 1)
    assert attrs["n_frames"] == 9 and episode["obs"]["rgb"].shape == (9, 32, 32, 3)
    assert episode["obs"]["state"].shape == (9, 6, 13) and len(episode["events"]) == 9
    assert episode["text"]["caption"] and episode["json"]["causal_graph"]["directed"]
    assert len(episode["action_json"]) == 8 and episode["action"] is None
    np.testing.assert_allclose(episode["obs"]["time"], np.arange(9) * 0.04)  # the env's simulated time
    assert episode["obs"]["time"].dtype == np.float64
    assert meta.envs == {"foretell/Collide-v0": {"family": "scenario", "action_dim": None, "frame_keys": sorted(
        ["depth", "object_mask", "properties", "rgb", "segmentation", "state", "time"]),
        "camera_version": CAMERA_VERSION}}  # images are stored, so the camera rig that drew them is named


def test_every_family_generates_puzzles_included(mixed_dataset):
    """One episode of each family; a puzzle episode is one attempt: the task before, the scene after."""
    report = validate_dataset(mixed_dataset)
    assert report["ok"], report["problems"]
    env_ids = [read_episode(p)["attrs"]["env_id"] for p in sorted((mixed_dataset / "episodes").glob("*.h5"))]
    assert env_ids[3:] == list(PUZZLE_IDS)
    for index in (3, 4, 5):
        episode = read_episode(mixed_dataset / "episodes" / f"ep_{index:06d}.h5")
        assert episode["attrs"]["n_frames"] == 2 and episode["action"].shape == (1, 3)
        assert np.all(np.abs(episode["action"]) <= 1.0) and episode["text"]["instruction"]
        time = episode["obs"]["time"]
        assert time[0] == 0.0 and time[1] == pytest.approx(4.0)  # one 4 s attempt
        attempt, n_objects = episode["attempt"], len(episode["attrs"]["object_names"])
        assert attempt["positions"].shape == (101, n_objects, 3) and attempt["time"][-1] == pytest.approx(time[1])
        # the attempt starts where the action puts the red ball (object 0); the rest of the scene as shown before
        np.testing.assert_allclose(attempt["positions"][0, 0], episode["json"]["attempt"]["agent_start"], atol=1e-9)
        np.testing.assert_allclose(attempt["positions"][0, 1:], episode["obs"]["state"][0, 1:n_objects, :3], atol=1e-9)
        np.testing.assert_allclose(attempt["positions"][-1], episode["obs"]["state"][1, :n_objects, :3], atol=1e-9)
        assert episode["json"]["attempt"]["action"] == pytest.approx(episode["action"][0].tolist(), abs=1e-6)
        assert episode["attrs"]["label"] == episode["json"]["outcome"]["success"] == bool(episode["reward"][0])
    meta = read_meta(mixed_dataset)
    assert {env: f["action_dim"] for env, f in meta.envs.items()} == {
        "foretell/Collide-v0": None, "foretell/BlockStack-v0": None, "foretell/BlockStackLowLevel-v0": 4,
        **dict.fromkeys(PUZZLE_IDS, 3)}
    assert "gripper" in meta.envs["foretell/BlockStackLowLevel-v0"]["frame_keys"]
    assert "gripper" not in meta.envs["foretell/PuzzleDrop-v0"]["frame_keys"]


def test_puzzle_options_are_checked():
    with pytest.raises(ValueError, match="policy must be 'auto' or 'random'"):
        TaskSpec("foretell/PuzzleDrop-v0", 2, policy="expert").check_env()
    with pytest.raises(ValueError, match="one attempt"):
        TaskSpec("foretell/PuzzleDrop-v0", 2, max_steps=3).check_env()


def test_skill_frames_are_seconds_apart(skills_dataset):
    """BlockStack-v0 stores one frame per skill: obs/time says how far apart they are (not 1/25 s)."""
    for path in sorted((skills_dataset / "episodes").glob("*.h5")):
        time = read_episode(path)["obs"]["time"]
        assert np.all(np.diff(time) >= 0) and np.diff(time).max() > 1.0


def test_episode_regenerates_alone(scenario_dataset, tmp_path):
    """Episode 2 of a 3-episode dataset is byte-identical to episode 2 generated on its own."""
    from foretell.data.generate import episode_bytes

    config_json = __import__("json").dumps(scenario_config().to_dict(), sort_keys=True)
    _, _, payload = episode_bytes(config_json, 2)
    assert payload == (scenario_dataset / "episodes" / "ep_000002.h5").read_bytes()


def test_same_bytes_with_two_workers(scenario_dataset, tmp_path):
    generate(scenario_config(), tmp_path / "w2", workers=2, progress=False)
    assert dataset_bytes(tmp_path / "w2") == dataset_bytes(scenario_dataset)


def test_same_bytes_with_ray_backend(scenario_dataset, tmp_path):
    pytest.importorskip("ray")
    generate(scenario_config(), tmp_path / "ray", workers=2, backend="ray", progress=False)
    assert dataset_bytes(tmp_path / "ray") == dataset_bytes(scenario_dataset)


def test_refuses_to_overwrite_and_to_resume_another_config(scenario_dataset):
    with pytest.raises(FileExistsError, match="--resume"):
        generate(scenario_config(), scenario_dataset, progress=False)
    with pytest.raises(ValueError, match="differs in"):
        generate(scenario_config(split="test"), scenario_dataset, resume=True, progress=False)


def test_kill_9_then_resume_gives_exactly_n_valid_episodes(tmp_path):
    out = tmp_path / "killed"
    n = 8
    args = [*CLI, "generate", "foretell/Collide-v0", "--episodes", str(n), "--image-size", "32", "--max-steps",
            "10", "--seed", "5", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "MUJOCO_GL": "egl"})
    deadline = time.monotonic() + 300  # generous: the kill-9 tests have timed out on a loaded box
    while not list(out.glob("episodes/ep_*.h5")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = len(list(out.glob("episodes/ep_*.h5")))
    assert 0 < committed < n, f"the kill should land mid-generation ({committed} committed)"
    (out / "episodes" / ".ep_000007.h5.424242.tmp").write_bytes(b"half an episode")  # in flight at the kill
    assert not validate_dataset(out)["ok"]
    resumed = subprocess.run([*args, "--resume", "--workers", "2"], capture_output=True, text=True,
                             env={**os.environ, "MUJOCO_GL": "egl"})
    assert resumed.returncode == 0, resumed.stderr
    assert f"{n - committed} generated, {committed} already there" in resumed.stdout
    report = validate_dataset(out)
    assert report["ok"], report["problems"]
    files = sorted(p.name for p in (out / "episodes").iterdir())
    assert files == [f"ep_{i:06d}.h5" for i in range(n)]  # exactly N, no duplicates, no temp files
    fresh = tmp_path / "fresh"
    config = DatasetConfig(tasks=(TaskSpec("foretell/Collide-v0", n, max_steps=10),), image_size=32, seed=5,
                           name="Collide-v0")
    generate(config, fresh, progress=False)
    assert dataset_bytes(fresh) == dataset_bytes(out)  # resuming changes no byte


def test_resume_from_the_stored_config_alone(tmp_path):
    from foretell.data.recipe import command_config

    out = tmp_path / "ds"
    generate(scenario_config(episodes=2), out, progress=False)
    (out / "episodes" / "ep_000001.h5").unlink()
    config = command_config(None, None, resume_from=Path(out))
    report = generate(config, out, resume=True, progress=False)
    assert (report.generated, report.skipped) == (1, 1)


def _graph_file(path, env_id, space):
    import networkx as nx

    from foretell.envs import save_variable_graph

    graph = nx.DiGraph(level="variable", env=env_id, space=space)
    graph.add_edge("agent.speed", "patient.moved", weight=1.0)
    return save_variable_graph(graph, path)


def test_variable_graphs_are_checked_before_generating(tmp_path):
    """Before: a graph for another env or space was refused only after every episode was written."""
    from foretell.data.generate import check_variable_graphs

    config = scenario_config()
    good = _graph_file(tmp_path / "good.json", "foretell/Collide-v0", "A")
    assert list(check_variable_graphs(config, [good])) == ["foretell/Collide-v0/A"]
    with pytest.raises(ValueError, match=r"other_env\.json: a graph for 'foretell/Drop-v0', but the dataset holds"):
        check_variable_graphs(config, [good, _graph_file(tmp_path / "other_env.json", "foretell/Drop-v0", "A")])
    with pytest.raises(ValueError, match=r"other_space\.json: a graph measured in property space 'B'"):
        check_variable_graphs(config, [_graph_file(tmp_path / "other_space.json", "foretell/Collide-v0", "B")])


def test_variable_graphs_are_stored_in_meta(tmp_path):
    import shutil

    from foretell.data.generate import attach_variable_graphs
    from foretell.envs import save_variable_graph, variable_graph

    out = tmp_path / "ds"
    generate(scenario_config(), out, progress=False)
    env_id = read_meta(out).config.tasks[0].env_id
    graph = save_variable_graph(variable_graph(env_id, seeds=[0, 1], causes=["agent.mass"]), tmp_path / "g.json")
    stored = attach_variable_graphs(out, [graph])
    assert stored[f"{env_id}/A"]["graph"]["level"] == "variable"
    assert read_meta(out).variable_graphs == stored
    shutil.copy(graph, tmp_path / "other.json")
    text = (tmp_path / "other.json").read_text().replace(env_id, "foretell/Drop-v0" if "Drop" not in env_id
                                                         else "foretell/Collide-v0")
    (tmp_path / "other.json").write_text(text)
    with pytest.raises(ValueError, match="the dataset holds"):
        attach_variable_graphs(out, [tmp_path / "other.json"])
