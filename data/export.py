"""Export a dataset: mp4 previews with captions drawn in, and a LeRobotDataset v3.0-layout copy.

The LeRobot copy follows lerobot's v3.0 layout (``CODEBASE_VERSION = "v3.0"``)::

    meta/info.json                  codebase_version, fps, features, path templates, totals, splits
    meta/stats.json                 per-feature min/max/mean/std (images per channel, in [0, 1])
    meta/tasks.parquet              task string (pandas index "task") -> task_index
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, tasks, data/video file
                                    indices, dataset_from_index/to_index, video from/to timestamps
    data/chunk-CCC/file-FFF.parquet frame rows: observation.*, action, next.reward, next.done,
                                    timestamp, frame_index, episode_index, index, task_index
    videos/observation.images.<camera>/chunk-CCC/file-FFF.mp4

Each episode gets its own data file and video file (file index = episode index modulo
``chunks_size``), and ``from_timestamp`` is 0. A row's ``timestamp`` is its frame's simulated
time since the episode's first frame (``obs/time``, on the 1/fps grid every env steps on;
``frame_index / fps`` for schema-1 datasets that lack it), and the video shows row k's image from
that time until the next row's: where frames are 40 ms apart, video frame k is row k; where they
are not (BlockStack-v0: one frame per skill, seconds apart; puzzles: before and after a 4 s
attempt), the frame is held, so decoding the video at a row's timestamp gives that row's image
and the video plays in simulated time. A step that takes no simulated time (a declared
infeasible goal) is given one video frame, 1/fps after the previous row.
``next.reward`` and ``next.done`` of row t belong to the transition from frame t to t + 1 (the
last row, which has no action, repeats ``next.done``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from foretell.runtime import atomic_write_json

from .episode_file import EpisodeFile
from .schema import EPISODE_DIR, FPS, STATE_FIELDS, episode_name, read_meta

CHUNKS_SIZE = 1000
LEROBOT_VERSION = "v3.0"
_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
_EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"


def _committed(root: Path, limit: int | None) -> list[int]:
    meta = read_meta(root)
    found = [i for i in range(meta.config.episodes) if (root / EPISODE_DIR / episode_name(i)).exists()]
    return found[:limit] if limit is not None else found


def export_mp4(root: str | Path, out: str | Path, episodes: int | None = None, size: int = 256,
               progress: Callable[[Iterable], Iterable] | None = None) -> list[Path]:
    """Write ``out/ep_XXXXXX.mp4`` previews (frames scaled to ``size``, caption or instruction drawn in)."""
    import cv2

    from foretell.envs.sim.render import caption_frames, write_video

    root, out = Path(root), Path(out)
    if "rgb" not in read_meta(root).config.obs_keys:
        raise ValueError(f"{root} stores no rgb frames; nothing to preview")
    written = []
    indices = _committed(root, episodes)
    for index in progress(indices) if progress else indices:
        with EpisodeFile(root / EPISODE_DIR / episode_name(index)) as ep:
            frames = [cv2.resize(f, (size, size), interpolation=cv2.INTER_NEAREST) for f in ep.frames("rgb")]
            attrs = ep.attrs
            text = ep.text("caption") or ep.text("instruction")
        label = f"[{attrs['env_id'].split('/')[-1]} #{index} label={bool(attrs['label'])}] "
        written.append(write_video(caption_frames(frames, label + text), out / f"ep_{index:06d}.mp4", fps=FPS))
    return written


def _features(action_dim: int | None, has_gripper: bool, size: int, video_key: str) -> dict[str, Any]:
    slots = [f"obj{k}.{f}" for k in range(6) for f in STATE_FIELDS]
    features: dict[str, Any] = {
        video_key: {"dtype": "video", "shape": [size, size, 3], "names": ["height", "width", "channels"],
                    "info": {"video.height": size, "video.width": size, "video.codec": "mpeg4",
                             "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": FPS,
                             "video.channels": 3, "has_audio": False}},
        "observation.state": {"dtype": "float32", "shape": [len(slots)], "names": slots},
    }
    if has_gripper:
        features["observation.gripper"] = {"dtype": "float32", "shape": [4], "names": ["x", "y", "z", "holding"]}
    if action_dim is not None:  # low-level control: gripper deltas and grip; puzzles: the attempt's action
        names = ["dx", "dy", "dz", "grip"] if has_gripper and action_dim == 4 else None
        features["action"] = {"dtype": "float32", "shape": [action_dim], "names": names}
    features["next.reward"] = {"dtype": "float32", "shape": [1], "names": None}
    features["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
    for name, dtype in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                        ("index", "int64"), ("task_index", "int64")):
        features[name] = {"dtype": dtype, "shape": [1], "names": None}
    return features


def _video_frames(ep: EpisodeFile) -> np.ndarray:
    """The video frame (at ``FPS``) where each row starts ``(T,)``: its simulated time since the first
    frame (``obs/time``; the row index for schema-1 files), at least one frame after the previous row
    (a step that takes no simulated time, such as ``declare_infeasible``, still gets one frame)."""
    times = ep.times()
    if times is None:
        return np.arange(ep.n_frames, dtype=np.int64)
    starts = np.rint((times - times[0]) * FPS).astype(np.int64)
    return np.maximum.accumulate(starts - np.arange(len(starts))) + np.arange(len(starts))


def _episode_rows(ep: EpisodeFile, episode: int, start: int, task_index: int, action_dim: int | None,
                  has_gripper: bool, video_frames: np.ndarray) -> dict[str, Any]:
    n = ep.n_frames
    state = ep.frames("state").reshape(n, -1).astype(np.float32)  # (T, 78)
    reward = np.zeros(n, dtype=np.float32)
    reward[:-1] = ep.h5["reward"][()]  # row t: the reward of the step from frame t to t + 1
    done = np.zeros(n, dtype=bool)
    done[max(n - 2, 0):] = True  # the last step ends the episode; the final frame (no step) stays done
    rows: dict[str, Any] = {"observation.state": list(state)}
    if has_gripper:
        rows["observation.gripper"] = list(ep.frames("gripper").astype(np.float32))
    if action_dim is not None:  # action t leads from frame t to t+1; the last frame has none: zeros
        actions = np.zeros((n, action_dim), dtype=np.float32)
        actions[:-1] = ep.actions()
        rows["action"] = list(actions)
    rows.update({"next.reward": reward, "next.done": done, "timestamp": (video_frames / FPS).astype(np.float32),
                 "frame_index": np.arange(n, dtype=np.int64), "episode_index": np.full(n, episode, dtype=np.int64),
                 "index": np.arange(start, start + n, dtype=np.int64),
                 "task_index": np.full(n, task_index, dtype=np.int64)})
    return rows


def _write_parquet(path: Path, columns: dict[str, Any], metadata: dict[bytes, bytes] | None = None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, values in columns.items():
        if isinstance(values, list) and values and isinstance(values[0], np.ndarray):
            arrays[name] = pa.array([v.tolist() for v in values], type=pa.list_(pa.from_numpy_dtype(values[0].dtype)))
        else:
            arrays[name] = pa.array(values)
    table = pa.table(arrays)
    if metadata:
        table = table.replace_schema_metadata(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _pandas_index_metadata(index: str, columns: list[tuple[str, str]]) -> dict[bytes, bytes]:
    """Schema metadata that makes ``pandas.read_parquet`` restore ``index`` as the frame's index
    (lerobot looks tasks up by the index of ``tasks.parquet``)."""
    cols = [{"name": n, "field_name": n, "pandas_type": t, "numpy_type": "object" if t == "unicode" else t,
             "metadata": None} for n, t in columns]
    meta = {"index_columns": [index], "column_indexes": [], "columns": cols, "creator": {"library": "pyarrow"},
            "pandas_version": "2.2.0"}
    return {b"pandas": json.dumps(meta).encode()}


class _RunningStats:
    """Per-column min/max/mean/std accumulated over batches of rows ``(n, d)``."""

    def __init__(self) -> None:
        self.n, self.sum, self.sumsq, self.min, self.max = 0, 0.0, 0.0, None, None

    def add(self, rows: np.ndarray) -> None:
        rows = rows.astype(np.float64)
        self.n += len(rows)
        self.sum = self.sum + rows.sum(0)
        self.sumsq = self.sumsq + (rows**2).sum(0)
        self.min = rows.min(0) if self.min is None else np.minimum(self.min, rows.min(0))
        self.max = rows.max(0) if self.max is None else np.maximum(self.max, rows.max(0))

    def to_dict(self, image: bool = False) -> dict[str, list]:
        mean = self.sum / self.n
        std = np.sqrt(np.maximum(self.sumsq / self.n - mean**2, 0.0))
        fmt = (lambda v: [[[float(c)]] for c in v]) if image else (lambda v: np.asarray(v).tolist())
        return {"min": fmt(self.min), "max": fmt(self.max), "mean": fmt(mean), "std": fmt(std), "count": [self.n]}


def export_lerobot(root: str | Path, out: str | Path, episodes: int | None = None,
                   progress: Callable[[Iterable], Iterable] | None = None) -> Path:
    """Write a LeRobotDataset v3.0-layout copy of ``root`` under ``out`` (needs ``pyarrow``).

    Frames become ``observation.images.<camera>`` videos (mp4, one per episode, in simulated
    time) and ``observation.state`` (the (6, 13) object states flattened to 78 floats); low-level
    control datasets add ``action`` (4,) and ``observation.gripper``, puzzles ``action`` (3,);
    each episode's task is its instruction (planning, puzzles) or caption (scenarios). Returns
    ``out``.
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("--lerobot export needs pyarrow: pip install 'foretell[export]'") from exc
    from foretell.envs.sim.render import write_video

    root, out = Path(root), Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose another output folder")
    config = read_meta(root).config
    if "rgb" not in config.obs_keys or "state" not in config.obs_keys:
        raise ValueError(f"{root} must store rgb and state frames for a LeRobot export")
    indices = _committed(root, episodes)
    with EpisodeFile(root / EPISODE_DIR / episode_name(indices[0])) as first:
        action = first.h5.get("action")
        action_dim, has_gripper = None if action is None else int(action.shape[1]), "gripper" in first.frame_keys
    has_action = action_dim is not None
    video_key = f"observation.images.{config.camera}"
    features = _features(action_dim, has_gripper, config.image_size, video_key)
    tasks: dict[str, int] = {}
    episode_rows: dict[str, list] = {}
    stats = {k: _RunningStats() for k in (video_key, "observation.state", "next.reward",
                                          *(["action"] if has_action else []),
                                          *(["observation.gripper"] if has_gripper else []))}
    total = 0
    for new_index, index in enumerate(progress(indices) if progress else indices):
        with EpisodeFile(root / EPISODE_DIR / episode_name(index)) as ep:
            action = ep.h5.get("action")
            if (None if action is None else int(action.shape[1])) != action_dim or \
                    ("gripper" in ep.frame_keys) != has_gripper:
                raise ValueError(f"episode {index} ({ep.attrs['env_id']}) has other features than episode "
                                 f"{indices[0]}; export datasets of one action type at a time")
            task = ep.text("instruction") or ep.text("caption") or ep.attrs["env_id"]
            task_index = tasks.setdefault(task, len(tasks))
            starts = _video_frames(ep)
            rows = _episode_rows(ep, new_index, total, task_index, action_dim, has_gripper, starts)
            rgb = ep.frames("rgb")
        n = len(rgb)
        video_rows = np.repeat(np.arange(n), np.diff(starts, append=starts[-1] + 1))  # row shown by each frame
        chunk, file = divmod(new_index, CHUNKS_SIZE)
        _write_parquet(out / _DATA_PATH.format(chunk_index=chunk, file_index=file), rows)
        write_video(rgb[video_rows], out / _VIDEO_PATH.format(video_key=video_key, chunk_index=chunk,
                                                               file_index=file), fps=FPS)
        stats[video_key].add(rgb.reshape(-1, 3) / 255.0)
        for key in stats:
            if key != video_key:
                stats[key].add(np.asarray(np.stack(rows[key]) if isinstance(rows[key], list) else rows[key])
                               .reshape(n, -1))
        for key, value in {"episode_index": new_index, "tasks": [task], "length": n, "data/chunk_index": chunk,
                           "data/file_index": file, "dataset_from_index": total, "dataset_to_index": total + n,
                           f"videos/{video_key}/chunk_index": chunk, f"videos/{video_key}/file_index": file,
                           f"videos/{video_key}/from_timestamp": 0.0,
                           f"videos/{video_key}/to_timestamp": len(video_rows) / FPS,
                           "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                           "foretell/episode_index": index}.items():
            episode_rows.setdefault(key, []).append(value)
        total += n
    _write_parquet(out / _EPISODES_PATH, episode_rows)
    _write_parquet(out / "meta/tasks.parquet", {"task_index": list(tasks.values()), "task": list(tasks)},
                   _pandas_index_metadata("task", [("task_index", "int64"), ("task", "unicode")]))
    atomic_write_json(out / "meta/stats.json", {k: s.to_dict(image=k == video_key) for k, s in stats.items()})
    atomic_write_json(out / "meta/info.json", {
        "codebase_version": LEROBOT_VERSION, "robot_type": "foretell-mujoco", "total_episodes": len(indices),
        "total_frames": total, "total_tasks": len(tasks), "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": 100, "video_files_size_in_mb": 500, "fps": FPS,
        "splits": {config.split: f"0:{len(indices)}"}, "data_path": _DATA_PATH, "video_path": _VIDEO_PATH,
        "features": features, "foretell": {"source": str(root), "env_ids": sorted({t.env_id for t in config.tasks}),
                                           "space": config.space}})
    return out
