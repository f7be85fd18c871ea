"""``EpisodeDataset``: random-access training windows over a dataset directory, for PyTorch.

DataLoader-friendly: episode files are opened lazily, in the process that reads them, and at
most ``max_open`` at a time; no open HDF5 handle is ever pickled into a worker (``__getstate__``
drops them), so ``num_workers > 0``, ``persistent_workers`` and ``pin_memory`` all work.

Every request is checked in ``__init__``, not mid-epoch: episode indices, and that every selected
episode holds every requested key (a mixed dataset's scenarios have no ``action``, only low-level
episodes have ``gripper``). What each env stores comes from ``meta.json["envs"]``, or for older
datasets from one episode file per env; nothing here imports the envs (or MuJoCo).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .episode_file import EpisodeFile
from .schema import ACTION_KEY, EPISODE_DIR, FRAME_KEYS, TIME_KEY, episode_name, read_meta

EPISODE_KEYS = ("caption", "instruction", "label")
"""Per-episode keys a sample can carry besides frame arrays and ``action``."""
ARRAY_KEYS = (*FRAME_KEYS, TIME_KEY)
"""Keys read from ``obs/``: a window of frames each (``time``: simulated seconds since reset)."""


class EpisodeDataset(Dataset):
    """Windows of ``history`` observed frames followed by ``horizon`` future frames.

    A sample (a dict; ``default_collate`` batches it) holds, for each frame key in ``keys``,
    ``sample["history"][key]`` with shape ``(history, ...)`` and, when ``horizon > 0``,
    ``sample["future"][key]`` with shape ``(horizon, ...)``; ``sample["action"]``
    ``(history + horizon - 1, A)`` (continuous-action datasets: the actions between the window's
    frames; action t leads from frame t to t + 1); ``caption``/``instruction`` strings and ``label``
    when asked for; and ``episode_index``, ``t`` (the window's first frame). Arrays keep their
    stored dtypes (rgb uint8 ``(T, S, S, 3)``, depth float32, segmentation int8, state float64
    ``(T, 6, 13)``): convert on the device, where it is cheap.

    Args:
        path: dataset directory (its ``meta.json`` must carry a schema version this reader knows).
        keys: frame keys (``rgb``, ``depth``, ``segmentation``, ``state``, ``properties``,
            ``object_mask``, ``gripper``, ``time``), ``action``, ``caption``, ``instruction``, ``label``.
        history: frames of context (>= 1).
        horizon: future frames to predict (>= 0).
        stride: step between window starts within an episode.
        episodes: restrict to these episode indices (default: all committed episodes).
        max_open: most episode files held open at once per process.

    Raises:
        ValueError: an unknown key, an episode index outside the dataset or not on disk, or a key
            that some selected episodes do not hold (naming the env, an episode and what it holds).
    """

    def __init__(self, path: str | Path, keys: Sequence[str] = ("rgb", "state"), history: int = 1,
                 horizon: int = 0, stride: int = 1, episodes: Sequence[int] | None = None,
                 max_open: int = 64) -> None:
        if history < 1:
            raise ValueError(f"history must be >= 1, got history={history}")
        if horizon < 0:
            raise ValueError(f"horizon must be >= 0, got horizon={horizon}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got stride={stride}")
        self.root = Path(path)
        self.meta = read_meta(self.root)  # refuses unknown schema versions
        unknown = sorted(set(keys) - set(ARRAY_KEYS) - set(EPISODE_KEYS) - {ACTION_KEY})
        if unknown:
            raise ValueError(f"unknown keys {unknown}; valid: {[*ARRAY_KEYS, ACTION_KEY, *EPISODE_KEYS]}")
        missing = sorted(set(keys) & set(FRAME_KEYS) - set(self.meta.config.obs_keys))
        if missing:
            raise ValueError(f"keys {missing} were not stored in {self.root}; it has {list(self.meta.config.obs_keys)}")
        self.keys, self.history, self.horizon, self.stride = tuple(keys), history, horizon, stride
        self.max_open = max_open
        self.episodes, lengths = self._episode_lengths(episodes)
        self._check_keys_held()
        window = history + horizon
        counts = np.maximum((lengths - window) // stride + 1, 0)  # windows per episode
        self._cum = np.concatenate([[0], np.cumsum(counts)])
        self._handles: OrderedDict[int, EpisodeFile] = OrderedDict()
        self._pid = os.getpid()

    def _episode_lengths(self, episodes: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
        planned = self.meta.config.episodes
        lengths_meta = self.meta.counts.get("episode_frames") if self.meta.status == "complete" else None
        if episodes is not None:
            indices = [int(i) for i in episodes]
            outside = [i for i in indices if not 0 <= i < planned]
            if outside:
                raise ValueError(f"episodes {outside[:5]} are outside {self.root}, which has episodes "
                                 f"0..{planned - 1}")
        kept, lengths = [], []
        for i in range(planned) if episodes is None else indices:
            path = self.root / EPISODE_DIR / episode_name(i)
            if lengths_meta is not None:
                n = lengths_meta[i]
            elif path.exists():
                with EpisodeFile(path) as ep:
                    n = ep.n_frames
            elif episodes is None:
                continue  # not generated (yet)
            else:
                raise ValueError(f"episode {i} is not on disk in {self.root} (an unfinished dataset: finish it "
                                 f"with `foretell generate --resume --out {self.root}`, or leave it out)")
            kept.append(i)
            lengths.append(n)
        return np.asarray(kept, dtype=np.int64), np.asarray(lengths, dtype=np.int64)

    def _env_features(self, env_id: str, example: int) -> dict[str, Any]:
        """What ``env_id``'s episodes hold: ``meta.json["envs"]``, else read off episode ``example``."""
        if env_id in self.meta.envs:
            return self.meta.envs[env_id]
        with EpisodeFile(self.root / EPISODE_DIR / episode_name(example)) as ep:
            actions = ep.h5.get(ACTION_KEY)
            return {"frame_keys": ep.frame_keys, "action_dim": None if actions is None else int(actions.shape[1])}

    def _check_keys_held(self) -> None:
        """Refuse keys that some selected episodes lack, and actions of different lengths."""
        by_env: dict[str, list[int]] = {}
        for i in self.episodes.tolist():
            by_env.setdefault(self.meta.config.task_of(i)[1].env_id, []).append(i)
        features = {env: self._env_features(env, eps[0]) for env, eps in by_env.items()}
        for key in self.keys:
            if key not in ARRAY_KEYS and key != ACTION_KEY:
                continue
            for env, eps in by_env.items():
                held = features[env]["frame_keys"]
                if key == ACTION_KEY and features[env]["action_dim"] is None:
                    raise ValueError(f"key 'action' is missing from the {len(eps)} selected episode(s) of {env} "
                                     f"(e.g. episode {eps[0]}): it has no continuous actions (high-level skills "
                                     "are in action_json; passive scenarios take none); select other episodes "
                                     "with episodes=..., or drop the key")
                if key in ARRAY_KEYS and key not in held:
                    hint = " (datasets of schema version 1 store no obs/time)" if key == TIME_KEY else ""
                    raise ValueError(f"key {key!r} is missing from the {len(eps)} selected episode(s) of {env} "
                                     f"(e.g. episode {eps[0]}), which hold {sorted(held)}{hint}; select other "
                                     "episodes with episodes=..., or drop the key")
        dims = {env: f["action_dim"] for env, f in features.items()}
        if ACTION_KEY in self.keys and len(set(dims.values())) > 1:
            raise ValueError(f"'action' has different lengths across the selected envs {dims}: batches could not "
                             "be stacked; select the episodes of one action type with episodes=...")

    def __len__(self) -> int:
        return int(self._cum[-1])

    def _file(self, episode: int) -> EpisodeFile:
        if os.getpid() != self._pid:  # forked into a worker: never share HDF5 handles across processes
            self._handles, self._pid = OrderedDict(), os.getpid()
        if episode in self._handles:
            self._handles.move_to_end(episode)
            return self._handles[episode]
        handle = EpisodeFile(self.root / EPISODE_DIR / episode_name(episode))
        self._handles[episode] = handle
        if len(self._handles) > self.max_open:
            self._handles.popitem(last=False)[1].close()
        return handle

    def locate(self, index: int) -> tuple[int, int]:
        """``(episode index, first frame)`` of sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range 0..{len(self) - 1}")
        k = int(np.searchsorted(self._cum, index, side="right") - 1)
        return int(self.episodes[k]), int((index - self._cum[k]) * self.stride)

    def __getitem__(self, index: int) -> dict[str, Any]:
        episode, t = self.locate(index)
        ep = self._file(episode)
        end = t + self.history + self.horizon
        sample: dict[str, Any] = {"episode_index": episode, "t": t, "history": {}}
        if self.horizon:
            sample["future"] = {}
        for key in self.keys:
            if key in ARRAY_KEYS:
                frames = torch.from_numpy(np.ascontiguousarray(ep.frames(key, t, end)))
                sample["history"][key] = frames[: self.history]
                if self.horizon:
                    sample["future"][key] = frames[self.history:]
            elif key == ACTION_KEY:  # every selected episode has actions: checked in __init__
                sample[key] = torch.from_numpy(ep.actions(t, end - 1))
            elif key == "label":
                sample[key] = bool(ep.h5.attrs["label"])
            else:
                sample[key] = ep.text(key)
        return sample

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()  # open handles never travel to workers
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
