"""One episode as one HDF5 file: encode to bytes, commit atomically, open for reading.

Layout of ``ep_XXXXXX.h5`` (schema version in ``data.schema``)::

    attrs            schema_version, env_id, episode_index, env_seed, policy_seed, task_index, policy,
                     noise, split, space, camera, fps, n_frames, label, success, object_names (JSON)
    /obs/<key>       (T, ...) per-frame arrays: time (T,) f64 simulated seconds since reset (schema >= 2),
                     rgb (T,S,S,3) u8, depth (T,S,S) f32 metres,
                     segmentation (T,S,S) i8 object index or -1, state (T,6,13) f64,
                     properties (T,6,14) f64, object_mask (T,6) i8, gripper (T,4) f64
    /action          (T-1, A) f32, continuous actions only: low-level control (A=4), puzzles (A=3);
                     action t leads from frame t to t+1
    /attempt/<key>   puzzles: positions (F+1, N, 3) f64 object centres every 40 ms of the attempt,
                     time (F+1,) f64 their simulated times, states (F+1, N, 13) f64 full object
                     states at those times (datasets written since 2026-11-29; older ones lack it)
    /action_json     (T-1,) JSON text: each action exactly as the env received it
    /reward          (T-1,) f32
    /events          (T,) JSON text: events of each frame
    /text/<key>      caption, instruction (UTF-8 strings)
    /json/<key>      causal_graph, total_effect_graph, graph_agreement, qa, interventions, objects,
                     outcome, final_positions (JSON text; node-link JSON for graphs)

Frames are chunked along time (``TIME_CHUNK`` frames per chunk), gzip-compressed with the
byte-shuffle filter, and every chunk carries a Fletcher-32 checksum, so a flipped byte in any
chunk is an error on read rather than silently wrong pixels. The file is built in memory and
committed with a write-temp / fsync / rename, so a reader never sees half an episode.

Frames may be handed over as lists of per-frame arrays (what a rollout collects): they are then
written one time chunk at a time and released as they go, so an episode never exists as a list,
a stacked copy and an encoded copy at once. The bytes are the same as for stacked arrays.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from foretell.runtime import atomic_write_bytes

from .schema import (
    ACTION_JSON_KEY,
    ACTION_KEY,
    EVENTS_KEY,
    REWARD_KEY,
    SCHEMA_VERSION,
    TIME_KEY,
    check_schema,
)

TIME_CHUNK = 8
ATTEMPT_GROUP = "attempt"
_STR = h5py.string_dtype("utf-8")
STORE_DTYPES = {"rgb": np.uint8, "depth": np.float32, "segmentation": np.int8, "state": np.float64,
                 "properties": np.float64, "object_mask": np.int8, "gripper": np.float64, TIME_KEY: np.float64}
_FILTERS = {"compression": "gzip", "compression_opts": 4, "shuffle": True, "fletcher32": True}
# HDF5 1.8-compatible object headers (checksummed metadata) keep files readable by old h5py/HDF5.
_LIBVER = ("v108", "v108")


def _array_dataset(group: h5py.Group, name: str, array: np.ndarray) -> None:
    chunks = (min(len(array), TIME_CHUNK), *array.shape[1:]) if len(array) else None
    group.create_dataset(name, data=array, chunks=chunks, **_FILTERS)


def _frames_dataset(group: h5py.Group, name: str, frames: np.ndarray | list, dtype: Any) -> None:
    """``/<group>/<name>`` from a (T, ...) array, or from a list of T per-frame arrays that is
    written one time chunk at a time and emptied as it goes (each written frame is released)."""
    if not isinstance(frames, list) or not frames:
        _array_dataset(group, name, np.asarray(frames, dtype=dtype))
        return
    first = np.asarray(frames[0], dtype=dtype)
    shape = (len(frames), *first.shape)
    dataset = group.create_dataset(name, shape=shape, dtype=first.dtype,
                                   chunks=(min(len(frames), TIME_CHUNK), *first.shape), **_FILTERS)
    for start in range(0, len(frames), TIME_CHUNK):
        block = frames[start:start + TIME_CHUNK]
        dataset[start:start + len(block)] = np.stack([np.asarray(f, dtype=first.dtype) for f in block])
        frames[start:start + len(block)] = [None] * len(block)
    # Close it now, as create_dataset(data=...) does: its chunks then land in the file before the next
    # dataset's header, which keeps the bytes identical to writing the stacked array.
    dataset.id.close()


def encode_episode(record: dict[str, Any]) -> bytes:
    """Serialise an episode record (see ``data.rollout.collect_episode``) to HDF5 bytes.

    Args:
        record: ``attrs`` (scalars), ``obs`` (key -> (T, ...) array or list of T per-frame arrays;
            lists are emptied as they are written), ``action`` ((T-1, A) or None),
            ``action_json`` / ``events`` (lists of JSON text), ``reward`` ((T-1,)), ``text``
            (key -> str), ``json`` (key -> JSON-able object), optional ``attempt`` (key -> array).
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=_LIBVER) as f:
        for key, value in sorted(record["attrs"].items()):
            f.attrs[key] = value
        f.attrs["schema_version"] = SCHEMA_VERSION
        obs = f.create_group("obs")
        for key, frames in record["obs"].items():
            _frames_dataset(obs, key, frames, STORE_DTYPES.get(key))
        if record.get(ATTEMPT_GROUP):
            attempt = f.create_group(ATTEMPT_GROUP)
            for key, array in record[ATTEMPT_GROUP].items():
                _array_dataset(attempt, key, np.asarray(array, dtype=np.float64))
        if record.get("action") is not None:
            _array_dataset(f, ACTION_KEY, np.asarray(record["action"], dtype=np.float32))
        f.create_dataset(ACTION_JSON_KEY, data=np.array(record["action_json"], dtype=object), dtype=_STR)
        f.create_dataset(REWARD_KEY, data=np.asarray(record["reward"], dtype=np.float32))
        f.create_dataset(EVENTS_KEY, data=np.array(record["events"], dtype=object), dtype=_STR)
        text = f.create_group("text")
        for key, value in record["text"].items():
            text.create_dataset(key, data=value, dtype=_STR)
        blobs = f.create_group("json")
        for key, value in record["json"].items():
            blobs.create_dataset(key, data=json.dumps(value, sort_keys=True), dtype=_STR)
    return buffer.getvalue()


def commit_episode(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (``foretell.runtime.atomic_write_bytes``: temp
    file, fsync, rename, fsync of the folder). Readers see the whole file or nothing; a crash
    leaves at most a ``.ep_*.tmp`` file, swept on resume."""
    return atomic_write_bytes(path, payload)


class EpisodeFile:
    """Read access to one episode file. Opens lazily; use as a context manager or call ``close``.

    Raises ``SchemaError`` for an unknown schema version and ``OSError`` for a file HDF5 cannot
    open (truncated, not HDF5).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: h5py.File | None = None

    @property
    def h5(self) -> h5py.File:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
            try:
                check_schema(self._file.attrs.get("schema_version"), str(self.path))
            except Exception:
                self.close()
                raise
        return self._file

    def __enter__(self) -> EpisodeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def attrs(self) -> dict[str, Any]:
        out = {}
        for key, value in self.h5.attrs.items():
            out[key] = value.item() if isinstance(value, np.generic) else value
        out["object_names"] = json.loads(out.get("object_names", "[]"))
        return out

    @property
    def n_frames(self) -> int:
        return int(self.h5.attrs["n_frames"])

    @property
    def frame_keys(self) -> list[str]:
        return sorted(self.h5["obs"].keys())

    @property
    def schema_version(self) -> int:
        version = self.h5.attrs["schema_version"]
        return int(version.item() if isinstance(version, np.generic) else version)

    def frames(self, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` of ``/obs/<key>``: ``(stop - start, ...)``."""
        if key not in self.h5["obs"]:
            raise KeyError(f"{self.path.name} has no frame key {key!r}; it has {self.frame_keys}")
        return self.h5["obs"][key][start:stop]

    def actions(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        """Continuous actions ``(stop - start, A)`` or None for envs with high-level actions only."""
        return self.h5[ACTION_KEY][start:stop] if ACTION_KEY in self.h5 else None

    def times(self) -> np.ndarray | None:
        """Simulated seconds since reset of every frame ``(T,)``; None for schema-1 files."""
        return self.h5["obs"][TIME_KEY][()] if TIME_KEY in self.h5["obs"] else None

    def attempt(self) -> dict[str, np.ndarray]:
        """Puzzles: the attempt's per-frame arrays (``positions`` (F+1, N, 3), ``time`` (F+1,)); else {}."""
        group = self.h5.get(ATTEMPT_GROUP)
        return {} if group is None else {k: group[k][()] for k in sorted(group)}

    def strings(self, key: str) -> list[str]:
        """A per-step string dataset (``action_json``, ``events``) as Python strings."""
        return [s.decode() if isinstance(s, bytes) else s for s in self.h5[key][()]]

    def text(self, key: str) -> str:
        value = self.h5["text"][key][()]
        return value.decode() if isinstance(value, bytes) else value

    def json(self, key: str) -> Any:
        value = self.h5["json"][key][()]
        return json.loads(value.decode() if isinstance(value, bytes) else value)

    def json_keys(self) -> list[str]:
        return sorted(self.h5["json"].keys())


def read_episode(path: str | Path) -> dict[str, Any]:
    """The whole episode in memory: attrs, obs arrays, actions, events, text and JSON fields."""
    with EpisodeFile(path) as ep:
        h5 = ep.h5
        return {"attrs": ep.attrs, "obs": {k: ep.frames(k) for k in ep.frame_keys}, "action": ep.actions(),
                "action_json": [json.loads(s) for s in ep.strings(ACTION_JSON_KEY)],
                "reward": h5[REWARD_KEY][()], "events": [json.loads(s) for s in ep.strings(EVENTS_KEY)],
                "text": {k: ep.text(k) for k in h5["text"]}, "json": {k: ep.json(k) for k in ep.json_keys()},
                "attempt": ep.attempt()}
