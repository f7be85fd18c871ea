"""Training windows for the frame world model: K context frames and the frame that follows.

Like ``data.load_windows`` for states: every episode's ``obs/rgb`` is read once through
``foretell.data.EpisodeFile`` into one uint8 array in memory (a 76-frame episode at 64 px is
0.9 MB, so 200 episodes take 190 MB), and a batch is one vectorised gather, so it depends only on
the indices drawn: training stays reproducible and resumable to the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from foretell.data import EpisodeFile, read_meta
from foretell.data.schema import EPISODE_DIR, episode_name

from .data import _episode_actions

RGB_KEY = "rgb"
STATS_MAX_WINDOWS = 4096  # statistics come from a seeded subsample this large at most


@dataclass
class FrameWindowSet:
    """Every frame of every episode, concatenated, and where each (K + 1)-frame window starts.

    Attributes:
        frames: ``(F, S, S, 3)`` uint8, all frames.
        actions: ``(F, A)`` float32 (action t leads from frame t to t + 1; zeros after an
            episode's last frame), or None for passive scenes.
        starts: ``(W,)`` global index of each window's first frame.
        episode_starts: ``(E,)`` global index of each episode's first frame.
    """

    frames: np.ndarray
    actions: np.ndarray | None
    starts: np.ndarray
    episode_starts: np.ndarray
    history: int
    action_kind: str
    image_size: int
    fps: float
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, index: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The windows ``index`` ``(B,)``: ``frames (B, K + 1, S, S, 3)`` uint8 (the last one is
        the target) and, with actions, ``actions (B, K, A)`` (the last leads into the target)."""
        k = self.history
        rows = self.starts[np.asarray(index)][:, None] + np.arange(k + 1)  # (B, K + 1)
        out = {"frames": torch.from_numpy(self.frames[rows])}
        if self.actions is not None:
            out["actions"] = torch.from_numpy(self.actions[rows[:, :k]])  # (B, K, A)
        return out

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` windows drawn uniformly with replacement by ``generator``."""
        return self.batch(torch.randint(len(self), (batch_size,), generator=generator).numpy())

    def statistics(self, seed: int = 0) -> dict[str, list[float]]:
        """``FrameDiffusionModel``'s ``stats``: per colour channel mean and std of the frame and
        of its change from the previous frame (pixels in [-1, 1]), and of vector actions, over at
        most ``STATS_MAX_WINDOWS`` windows chosen with ``seed``."""
        rng = np.random.default_rng(seed)
        index = np.arange(len(self)) if len(self) <= STATS_MAX_WINDOWS else \
            np.sort(rng.choice(len(self), STATS_MAX_WINDOWS, replace=False))
        rows = self.starts[index] + self.history  # (W,) target frames
        target = self.frames[rows].astype(np.float64) / 127.5 - 1.0  # (W, S, S, 3)
        change = target - (self.frames[rows - 1].astype(np.float64) / 127.5 - 1.0)
        stats = {}
        for name, x in (("frame", target), ("change", change)):
            stats[f"{name}_mean"] = x.mean(axis=(0, 1, 2)).tolist()
            stats[f"{name}_std"] = np.maximum(x.std(axis=(0, 1, 2)), 1e-3).tolist()
        if self.action_kind == "vector":
            acts = self.actions[rows - 1].astype(np.float64)  # (W, 4)
            std = acts.std(axis=0)
            stats["action_mean"] = acts.mean(axis=0).tolist()
            stats["action_std"] = np.where(std < 1e-6, 1.0, np.maximum(std, 1e-3)).tolist()
        return stats


def load_frame_windows(paths: Sequence[str | Path], history: int) -> FrameWindowSet:
    """Read the frames of every committed episode of the datasets ``paths``.

    Raises ``ValueError`` naming the key and the folder when a dataset stored no ``rgb``, when
    datasets mix action kinds or image sizes, for puzzle datasets, and when no episode holds
    ``history + 1`` frames.
    """
    if history < 1:
        raise ValueError(f"history must be >= 1, got history={history}")
    if not paths:
        raise ValueError("no dataset given; pass at least one --data DIR")
    parts = [part for path in paths for part in _read_dataset(Path(path))]
    kinds = {p["kind"] for p in parts}
    if len(kinds) > 1:
        by_kind = {k: sorted({p["source"] for p in parts if p["kind"] == k}) for k in sorted(kinds)}
        raise ValueError(f"datasets mix action kinds {by_kind}; train one model per kind")
    sizes = {p["frames"].shape[1] for p in parts}
    if len(sizes) > 1:
        raise ValueError(f"datasets store frames of different sizes {sorted(sizes)} px; train one model per size")
    lengths = np.array([len(p["frames"]) for p in parts])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    starts = np.concatenate([o + np.arange(max(n - history, 0)) for o, n in zip(offsets, lengths, strict=True)])
    if len(starts) == 0:
        raise ValueError(f"no episode in {[str(p) for p in paths]} holds history {history} + 1 frames "
                         f"(longest: {lengths.max()} frames)")
    kind = kinds.pop()
    return FrameWindowSet(
        frames=np.concatenate([p["frames"] for p in parts]),
        actions=None if kind == "none" else np.concatenate([p["actions"] for p in parts]),
        starts=starts.astype(np.int64), episode_starts=offsets.astype(np.int64), history=history,
        action_kind=kind, image_size=sizes.pop(), fps=float(parts[0]["fps"]), sources=[str(p) for p in paths])


def check_rgb(root: Path) -> list[str]:
    """The dataset's stored frame keys; ``ValueError`` naming the folder when ``rgb`` is not one."""
    stored = list(read_meta(root).config.obs_keys)  # FileNotFoundError / SchemaError for a non-dataset
    if RGB_KEY not in stored:
        raise ValueError(f"dataset {root} lacks the key {RGB_KEY!r} (it stores {stored}); the frame world model "
                         f"needs camera frames: regenerate with --obs-keys rgb,...")
    return stored


def _read_dataset(root: Path) -> list[dict]:
    check_rgb(root)
    meta = read_meta(root)
    parts = []
    for i in range(meta.config.episodes):
        path = root / EPISODE_DIR / episode_name(i)
        if not path.exists():
            continue  # not generated (an incomplete dataset): train on what is there
        with EpisodeFile(path) as ep:
            kind, actions = _episode_actions(ep, ep.attrs, root)
            parts.append({"frames": ep.frames(RGB_KEY), "kind": kind, "actions": actions,
                          "fps": ep.attrs.get("fps", 25), "source": str(root)})
    if not parts:
        raise ValueError(f"dataset {root} holds no episodes yet")
    return parts
