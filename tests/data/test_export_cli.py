"""Export (mp4 previews, LeRobot v3.0 layout) and the CLI commands on tiny budgets."""

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from foretell.cli import app
from foretell.data import read_episode

runner = CliRunner()


def test_cli_generate_info_validate_export(tmp_path):
    out = tmp_path / "ds"
    result = runner.invoke(app, ["generate", "foretell/Drop-v0", "--episodes", "2", "--image-size", "32",
                                 "--max-steps", "5", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["generated"] == 2
    result = runner.invoke(app, ["data", "info", str(out)])
    assert result.exit_code == 0 and "episodes 2/2" in result.output
    result = runner.invoke(app, ["data", "validate", str(out)])
    assert result.exit_code == 0 and "OK" in result.output
    result = runner.invoke(app, ["data", "export", str(out), "--mp4", str(tmp_path / "mp4"), "--size", "64"])
    assert result.exit_code == 0, result.output
    video = cv2.VideoCapture(str(tmp_path / "mp4" / "ep_000001.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 6 and int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == 64
    result = runner.invoke(app, ["generate", "foretell/Drop-v0", "--episodes", "2", "--out", str(out)])
    assert result.exit_code == 2 and "--resume" in result.output


def test_cli_validate_fails_on_corruption(scenario_dataset, tmp_path):
    import shutil

    out = tmp_path / "bad"
    shutil.copytree(scenario_dataset, out)
    (out / "episodes" / "ep_000001.h5").write_bytes(b"garbage")
    result = runner.invoke(app, ["data", "validate", str(out)])
    assert result.exit_code == 1 and "ep_000001.h5" in result.output and "INVALID" in result.output


def test_cli_errors_are_clean(tmp_path):
    result = runner.invoke(app, ["generate", "foretell/Nope-v0", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown env" in result.output
    result = runner.invoke(app, ["data", "info", str(tmp_path)])
    assert result.exit_code == 2 and "not a foretell dataset" in result.output


def test_lerobot_layout(low_level_dataset, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from foretell.data.export import export_lerobot

    out = export_lerobot(low_level_dataset, tmp_path / "lr")
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 2 and info["fps"] == 25
    for key in ("observation.images.front", "observation.state", "observation.gripper", "action", "timestamp",
                "frame_index", "episode_index", "index", "task_index"):
        assert key in info["features"]
    episodes = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    stored = read_episode(low_level_dataset / "episodes" / "ep_000001.h5")
    ep = episodes[1]
    n = stored["attrs"]["n_frames"]
    assert ep["length"] == n and ep["dataset_from_index"] == episodes[0]["length"]
    assert ep["dataset_to_index"] - ep["dataset_from_index"] == n
    data = pq.read_table(out / info["data_path"].format(chunk_index=ep["data/chunk_index"],
                                                        file_index=ep["data/file_index"])).to_pydict()
    assert len(data["index"]) == n and data["index"][0] == ep["dataset_from_index"]
    np.testing.assert_allclose(data["timestamp"], np.arange(n) / 25, atol=1e-6)  # 40 ms control steps
    np.testing.assert_allclose(np.array(data["action"])[:-1], stored["action"], atol=1e-6)
    # next.reward of row t is the reward of the step from frame t to t+1 (was shifted one row late)
    np.testing.assert_array_equal(np.array(data["next.reward"])[:-1], stored["reward"])
    assert data["next.done"][-2:] == [True, True] and not any(data["next.done"][:-2])
    video_key = "observation.images.front"
    video = cv2.VideoCapture(str(out / info["video_path"].format(
        video_key=video_key, chunk_index=ep[f"videos/{video_key}/chunk_index"],
        file_index=ep[f"videos/{video_key}/file_index"])))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == n  # one video frame per data row
    assert ep[f"videos/{video_key}/to_timestamp"] == pytest.approx(n / 25)
    tasks = pq.read_table(out / "meta/tasks.parquet")
    assert tasks.column("task").to_pylist()[data["task_index"][0]] == stored["text"]["instruction"]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert np.array(stats[video_key]["mean"]).shape == (3, 1, 1)


def test_lerobot_itself_loads_the_export_frame_aligned(scenario_dataset, tmp_path):
    """Runs where the optional `lerobot` package is installed (not in CI): its own
    LeRobotDataset reads the export, and decoded video frame k is our stored frame k."""
    pytest.importorskip("pyarrow.parquet")
    datasets = pytest.importorskip("lerobot.datasets.lerobot_dataset")
    pytest.importorskip("av")
    from foretell.data.export import export_lerobot

    out = export_lerobot(scenario_dataset, tmp_path / "lr")
    ds = datasets.LeRobotDataset("foretell/export", root=out, video_backend="pyav")
    assert ds.num_episodes == 3 and ds.fps == 25
    ours = read_episode(scenario_dataset / "episodes" / "ep_000001.h5")["obs"]["rgb"].astype(float)
    rows = [i for i in range(len(ds)) if int(ds.hf_dataset[i]["episode_index"]) == 1]
    assert len(rows) == len(ours)
    for k, i in enumerate(rows):
        decoded = ds[i]["observation.images.front"].numpy().transpose(1, 2, 0) * 255.0
        assert int(((ours - decoded[None]) ** 2).mean(axis=(1, 2, 3)).argmin()) == k


def test_lerobot_timestamps_are_simulated_time(skills_dataset, tmp_path):
    """BlockStack-v0 frames are one skill (seconds) apart: timestamps follow obs/time, and the video holds each
    frame until the next, so decoding at a row's timestamp shows that row (before: timestamps were k / 25)."""
    pq = pytest.importorskip("pyarrow.parquet")
    from foretell.data.export import export_lerobot

    out = export_lerobot(skills_dataset, tmp_path / "lr")
    info = json.loads((out / "meta" / "info.json").read_text())
    video_key = "observation.images.front"
    episodes = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    for ep in episodes:
        stored = read_episode(skills_dataset / "episodes" / f"ep_{ep['foretell/episode_index']:06d}.h5")
        data = pq.read_table(out / info["data_path"].format(chunk_index=ep["data/chunk_index"],
                                                            file_index=ep["data/file_index"])).to_pydict()
        time = stored["obs"]["time"]
        np.testing.assert_allclose(data["timestamp"], time - time[0], atol=1e-4)
        assert max(np.diff(data["timestamp"])) > 1.0
        video = cv2.VideoCapture(str(out / info["video_path"].format(
            video_key=video_key, chunk_index=ep[f"videos/{video_key}/chunk_index"],
            file_index=ep[f"videos/{video_key}/file_index"])))
        frames = []
        while True:
            ok, frame = video.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(float))
        assert len(frames) == round(ep[f"videos/{video_key}/to_timestamp"] * 25) == round(data["timestamp"][-1] * 25) + 1
        ours = stored["obs"]["rgb"].astype(float)
        for k, t in enumerate(data["timestamp"]):
            shown = frames[round(t * 25)]
            assert int(((ours - shown[None]) ** 2).mean(axis=(1, 2, 3)).argmin()) == k
