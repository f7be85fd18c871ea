"""Training windows for the object world model: K observed states and the H that follow.

Object states are small (an episode of 76 frames is 24 kB), so ``load_windows`` reads every
episode of every dataset once, through ``foretell.data.EpisodeFile``, into flat in-memory
arrays, and a batch is one vectorised gather: no per-sample HDF5 reads, no DataLoader workers,
and a batch depends only on the indices drawn, which is what makes training reproducible and
resumable to the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from foretell.data import EpisodeFile, read_meta
from foretell.data.schema import EPISODE_DIR, episode_name

from .actions import (
    HALF_EXTENT_COLUMNS,
    SKILL_NUMBERS,
    VECTOR_DIM,
    action_dim,
    commanded_displacement,
    encode_skill,
)
from .geometry import anchor_features, constant_velocity_displacement, relative_features
from .object_diffusion import stat_sizes

REQUIRED_KEYS = ("state", "object_mask")
"""Frame keys the object model cannot do without; ``properties`` is optional (flagged unknown)."""
FEATURE_STD_FLOOR = 1e-3  # m, m/s, rad/s: below a millimetre a feature is not worth resolving
STATS_MAX_WINDOWS = 50_000  # statistics come from a seeded subsample this large at most


@dataclass
class WindowSet:
    """Every frame of every episode, concatenated, and where each (K + H)-frame window starts.

    Attributes:
        states: ``(F, N, 13)`` float32, all frames (N: the most objects in any episode).
        mask: ``(F, N)`` bool, which rows are objects.
        properties: ``(F, N, P)`` float32, or None when no dataset stored them.
        actions: ``(F, A)`` float32 (action t leads from frame t to t + 1; zeros after an
            episode's last frame), or None for passive scenes.
        starts: ``(W,)`` global index of each window's first frame.
    """

    states: np.ndarray
    mask: np.ndarray
    properties: np.ndarray | None
    actions: np.ndarray | None
    starts: np.ndarray
    history: int
    horizon: int
    action_kind: str
    property_dim: int
    fps: float
    sources: list[str] = field(default_factory=list)
    episode_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (E,) each episode's first frame
    _weights: tuple[tuple[float, float], torch.Tensor] | None = field(default=None, repr=False)  # draw's cache

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, index: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The windows ``index`` ``(B,)`` as the model's training batch: ``history (B, K, N, 13)``,
        ``future (B, H, N, 13)``, ``mask (B, N)`` (objects present in every frame of the window),
        ``properties (B, N, P)`` at the last observed frame, ``properties_known (B,)`` and, with
        actions, ``actions (B, H, A)``. N is cut to the most objects in this batch."""
        k, h = self.history, self.horizon
        frames = self.starts[np.asarray(index)][:, None] + np.arange(k + h)  # (B, K + H)
        mask = self.mask[frames].all(axis=1)  # (B, N)
        n = max(int(mask.sum(axis=1).max()), 1)
        states = torch.from_numpy(self.states[frames][:, :, :n])  # (B, K + H, N, 13)
        out = {"history": states[:, :k], "future": states[:, k:], "mask": torch.from_numpy(mask[:, :n])}
        last = frames[:, k - 1]
        if self.properties is not None:
            out["properties"] = torch.from_numpy(self.properties[last][:, :n])  # (B, N, P)
            out["properties_known"] = torch.ones(len(last))
        else:
            out["properties"] = torch.zeros(len(last), n, self.property_dim)
            out["properties_known"] = torch.zeros(len(last))
        if self.actions is not None:
            out["actions"] = torch.from_numpy(self.actions[frames[:, k - 1:k - 1 + h]])  # (B, H, A)
        return out

    def motion(self) -> np.ndarray:
        """``(W,)`` the fastest any object moves (m/s, linear speed) in each window, history and
        future frames together: a ball that is released at rest and falls counts as moving."""
        speed = np.linalg.norm(self.states[..., 7:10], axis=-1) * self.mask  # (F, N)
        per_frame = speed.max(axis=1)  # (F,)
        window = self.history + self.horizon
        return np.lib.stride_tricks.sliding_window_view(per_frame, window)[self.starts].max(axis=1)

    def draw(self, batch_size: int, generator: torch.Generator, motion_weight: float = 0.0,
             start_weight: float = 0.0) -> np.ndarray:
        """``(batch_size,)`` window indices for ``sample_batch``, drawn by ``generator`` alone:
        uniformly, or window w with probability proportional to
        ``(1 + motion_weight * motion[w] / mean(motion)) * (1 + start_weight * [w starts an episode])``."""
        if motion_weight <= 0 and start_weight <= 0:
            return torch.randint(len(self), (batch_size,), generator=generator).numpy()
        if self._weights is None or self._weights[0] != (motion_weight, start_weight):
            m = self.motion() if motion_weight > 0 else np.zeros(len(self))
            weights = (1.0 + motion_weight * m / max(m.mean(), 1e-9)) * \
                (1.0 + start_weight * np.isin(self.starts, self.episode_starts))
            self._weights = ((motion_weight, start_weight), torch.from_numpy(weights))
        return torch.multinomial(self._weights[1], batch_size, replacement=True, generator=generator).numpy()

    def sample_batch(self, batch_size: int, generator: torch.Generator, scale: float = 1.0,
                     motion_weight: float = 0.0, start_weight: float = 0.0) -> dict[str, torch.Tensor]:
        """``batch_size`` windows drawn with replacement by ``generator`` (``draw``): with
        ``motion_weight`` > 0 windows where objects move come more often, so that scenes at rest,
        most of a 4 s puzzle attempt, do not crowd out the few where something happens; with
        ``start_weight`` > 0 so do the windows that open an episode (a puzzle attempt's first
        window is the only one that starts from the state the action creates, and the only one
        a planner's imagination starts from). ``scale`` > 1: each window's scene scaled by a
        factor drawn log-uniformly from [1 / scale, scale] (``scale_scene``; skill data only)."""
        batch = self.batch(self.draw(batch_size, generator, motion_weight, start_weight))
        if scale == 1.0:
            return batch
        if self.action_kind != "skill":
            raise ValueError(f"scale augmentation is for skill data (settled outcomes), not action_kind "
                             f"{self.action_kind!r}: dynamics do not scale with the scene")
        log = float(np.log(scale))
        factors = torch.exp((torch.rand(batch_size, generator=generator, dtype=torch.float64) * 2 - 1) * log)
        return scale_scene(batch, factors.float())

    def statistics(self, seed: int = 0, skill_prior: bool = False,
                   velocity_prior: bool = False) -> dict[str, list[float]]:
        """Per-feature normalisation statistics (``ObjectDiffusionModel``'s ``stats``), over real
        objects of at most ``STATS_MAX_WINDOWS`` windows chosen with ``seed``, and the range of every
        property over those objects (``property_min``, ``property_max``); ``skill_prior``
        (``velocity_prior``): the targets' displacements are taken from the commanded
        (constant-velocity) ones, as that model predicts them."""
        if skill_prior and self.action_kind != "skill":
            raise ValueError(f"skill_prior needs skill data, these windows have action_kind {self.action_kind!r}")
        if velocity_prior and self.action_kind == "skill":
            raise ValueError("velocity_prior needs per-frame data (scenarios, low-level control), not skill data")
        rng = np.random.default_rng(seed)
        index = np.arange(len(self)) if len(self) <= STATS_MAX_WINDOWS else \
            np.sort(rng.choice(len(self), STATS_MAX_WINDOWS, replace=False))
        sums: dict[str, list] = {}
        for chunk in np.array_split(index, max(1, len(index) // 4096)):
            b = self.batch(chunk)
            keep = b["mask"].double()  # (B, N)
            last = b["history"][:, -1].double()
            _accumulate(sums, "history", relative_features(b["history"].double(), last), keep[:, None, :, None])
            target = relative_features(b["future"].double(), last)
            prior = None
            if skill_prior:
                prior = commanded_displacement(b["history"][:, -1], b["properties"], b["actions"]).double()
            elif velocity_prior:
                prior = constant_velocity_displacement(last, self.horizon, self.fps)
            if prior is not None:
                target = torch.cat([target[..., :3] - prior, target[..., 3:]], dim=-1)
            _accumulate(sums, "target", target, keep[:, None, :, None])
            _accumulate(sums, "anchor", anchor_features(last)[:, None], keep[:, None, :, None])
            _accumulate(sums, "property", b["properties"].double()[:, None], keep[:, None, :, None])
            real = b["properties"].double()[b["mask"].bool()]  # (M, P): real objects only
            if len(real):
                low, high = real.min(dim=0).values, real.max(dim=0).values
                ranges = sums.get("property_range")
                sums["property_range"] = (low, high) if ranges is None else \
                    (torch.minimum(ranges[0], low), torch.maximum(ranges[1], high))
            if self.action_kind == "vector":
                acts = b["actions"].double().reshape(-1, 1, 1, b["actions"].shape[-1])  # (B*H, 1, 1, A)
                _accumulate(sums, "action", acts, torch.ones(len(acts), 1, 1, 1))
        stats = {}
        for name, size in stat_sizes(self.history, self.horizon, self.property_dim, self.action_kind).items():
            mean, std = _moments(sums.get(name), size, name)
            stats[f"{name}_mean"], stats[f"{name}_std"] = mean, std
        if "property_range" in sums and self.property_dim:
            stats["property_min"], stats["property_max"] = (v.tolist() for v in sums["property_range"])
        return stats


def scale_scene(batch: dict[str, torch.Tensor], factors: torch.Tensor) -> dict[str, torch.Tensor]:
    """A skill batch with each window's scene scaled about the table centre by ``factors (B,)``:
    positions and linear velocities, object half-extents, placement offsets and push distances.
    Where objects settle after a pick-and-place is nearly scale-invariant (the statics of rigid
    bodies under gravity and friction have no length scale); the robot's placement noise, which
    does not scale, is the one part that breaks it. Orientations, masses and materials stay."""
    out = dict(batch)
    f = factors.to(batch["history"].dtype)
    for key in ("history", "future"):
        x = batch[key].clone()
        x[..., :3] *= f[:, None, None, None]
        x[..., 7:10] *= f[:, None, None, None]
        out[key] = x
    props = batch["properties"].clone()
    props[..., HALF_EXTENT_COLUMNS] *= f[:, None, None]
    out["properties"] = props
    actions = batch["actions"].clone()
    numbers = actions[..., SKILL_NUMBERS]  # table flag, dx, dy, cos, sin, distance (a view)
    numbers[..., 1:3] *= f[:, None, None]
    numbers[..., 5] *= f[:, None]
    out["actions"] = actions
    return out


def widen_size_range(stats: dict, scale: float) -> dict:
    """Statistics whose stored half-extent range covers scenes scaled by [1 / scale, scale]: the
    model clamps the properties it reads to the stored range, and scale-augmented training has
    seen those sizes."""
    if "property_min" not in stats or scale == 1.0:
        return stats
    low, high = list(stats["property_min"]), list(stats["property_max"])
    for c in range(HALF_EXTENT_COLUMNS.start, HALF_EXTENT_COLUMNS.stop):
        low[c], high[c] = low[c] / scale, high[c] * scale
    return {**stats, "property_min": low, "property_max": high}


def _accumulate(sums: dict, name: str, x: torch.Tensor, weight: torch.Tensor) -> None:
    """Add weighted first and second moments of ``x`` ``(B, T, N, F)`` per (T, F)."""
    w = weight.expand(*x.shape[:3], 1)
    count, total, square = (w.sum(dim=(0, 2)), (x * w).sum(dim=(0, 2)), (x * x * w).sum(dim=(0, 2)))
    if name in sums:
        count, total, square = (a + b for a, b in zip(sums[name], (count, total, square), strict=True))
    sums[name] = [count, total, square]


def _moments(acc: list | None, size: int, name: str) -> tuple[list[float], list[float]]:
    """Mean and std as flat lists; a feature constant in the data keeps unit scale (properties,
    actions) or the floor (state features), so a new value is neither lost nor blown up."""
    if acc is None or size == 0:
        return [0.0] * size, [1.0] * size
    count, total, square = acc
    count = count.clamp_min(1.0)
    mean = total / count
    std = (square / count - mean ** 2).clamp_min(0.0).sqrt()
    if name in ("property", "action"):
        std = torch.where(std < 1e-6, torch.ones_like(std), std.clamp_min(1e-3))
    else:
        std = std.clamp_min(FEATURE_STD_FLOOR)
    return mean.flatten().tolist(), std.flatten().tolist()


def load_windows(paths: Sequence[str | Path], history: int, horizon: int) -> WindowSet:
    """Read every committed episode of the datasets ``paths`` into one ``WindowSet``.

    Puzzle episodes are read as their attempt's 40 ms states (``attempt/states``; action kind
    ``none``: the action is the red ball's start state). Raises ``ValueError`` naming the key and
    the folder when a dataset lacks ``state`` or ``object_mask``, when datasets mix action kinds
    or property widths, for puzzle datasets written without ``attempt/states`` and when no
    episode is long enough for a window.
    """
    if history < 1 or horizon < 1:
        raise ValueError(f"history and horizon must be >= 1, got history={history}, horizon={horizon}")
    if not paths:
        raise ValueError("no dataset given; pass at least one --data DIR")
    parts: list[dict] = []
    for path in paths:
        parts.extend(_read_dataset(Path(path)))
    kinds = {p["kind"] for p in parts}
    if len(kinds) > 1:
        by_kind = {k: sorted({p["source"] for p in parts if p["kind"] == k}) for k in sorted(kinds)}
        raise ValueError(f"datasets mix action kinds {by_kind}; train one model per kind")
    widths = {p["properties"].shape[-1] for p in parts if p["properties"] is not None}
    if len(widths) > 1:
        raise ValueError(f"datasets store properties of different widths {sorted(widths)}")
    kind = kinds.pop()
    window = history + horizon
    n = max(p["states"].shape[1] for p in parts)
    offsets = np.cumsum([0] + [len(p["states"]) for p in parts])
    starts = np.concatenate([o + np.arange(max(len(p["states"]) - window + 1, 0))
                             for o, p in zip(offsets, parts, strict=False)])
    if len(starts) == 0:
        longest = max(len(p["states"]) for p in parts)
        raise ValueError(f"no episode in {[str(p) for p in paths]} is long enough for history {history} + horizon "
                         f"{horizon} = {window} frames (longest: {longest} frames)")
    has_props = any(p["properties"] is not None for p in parts)
    p_dim = widths.pop() if widths else 14
    return WindowSet(
        states=np.concatenate([_pad_rows(p["states"], n) for p in parts]),
        mask=np.concatenate([_pad_rows(p["mask"], n) for p in parts]),
        properties=np.concatenate([_pad_rows(p["properties"] if p["properties"] is not None else
                                             np.zeros((*p["mask"].shape, p_dim), np.float32), n) for p in parts])
        if has_props else None,
        actions=None if kind == "none" else np.concatenate([p["actions"] for p in parts]),
        starts=starts.astype(np.int64), history=history, horizon=horizon, action_kind=kind, property_dim=p_dim,
        fps=float(parts[0]["fps"]), sources=[str(p) for p in paths], episode_starts=offsets[:-1].astype(np.int64))


def _pad_rows(array: np.ndarray, n: int) -> np.ndarray:
    """Pad axis 1 (objects) with zeros up to ``n``."""
    pad = [(0, 0)] * array.ndim
    pad[1] = (0, n - array.shape[1])
    return np.pad(array, pad)


def _read_dataset(root: Path) -> list[dict]:
    meta = read_meta(root)  # FileNotFoundError for a folder that is no dataset, SchemaError for an unknown schema
    stored = list(meta.config.obs_keys)
    for key in REQUIRED_KEYS:
        if key not in stored:
            raise ValueError(f"dataset {root} lacks the key {key!r} (it stores {stored}); the object world model "
                             f"needs {list(REQUIRED_KEYS)}: regenerate with --obs-keys state,properties,object_mask")
    parts = []
    for i in range(meta.config.episodes):
        path = root / EPISODE_DIR / episode_name(i)
        if not path.exists():
            continue  # not generated (an incomplete dataset): train on what is there
        with EpisodeFile(path) as ep:
            parts.append(_read_episode(ep, root, "properties" in stored))
    if not parts:
        raise ValueError(f"dataset {root} holds no episodes yet")
    return parts


def _read_episode(ep: EpisodeFile, root: Path, has_properties: bool) -> dict:
    attrs = ep.attrs
    states = ep.frames("state").astype(np.float32)  # (T, N, 13)
    mask = ep.frames("object_mask").astype(bool)  # (T, N)
    properties = ep.frames("properties").astype(np.float32) if has_properties else None  # (T, N, P)
    kind, actions = _episode_actions(ep, attrs, root)
    attempt = ep.attempt()
    if "states" in attempt:
        # A puzzle episode is one attempt: its frames are the attempt's 40 ms states (frame 0 holds
        # the action: where the red ball starts, its launch velocity), a passive scene from then on.
        f, n = len(attempt["states"]), states.shape[1]
        states = _pad_rows(attempt["states"].astype(np.float32), n)  # (F+1, N, 13)
        mask = np.repeat(mask[:1], f, axis=0)  # (F+1, N)
        properties = None if properties is None else np.repeat(properties[:1], f, axis=0)  # (F+1, N, P)
    return {"states": states, "mask": mask, "properties": properties, "kind": kind, "actions": actions,
            "fps": attrs.get("fps", 25), "source": str(root)}


def _episode_actions(ep: EpisodeFile, attrs: dict, root: Path) -> tuple[str, np.ndarray | None]:
    """The episode's action kind and its actions ``(T, A)`` aligned with frames (last row zero)."""
    from foretell.envs import env_family  # only here: importing the envs loads MuJoCo

    t = ep.n_frames
    if env_family(attrs["env_id"]) == "puzzle":
        if "states" not in ep.attempt():
            raise ValueError(f"dataset {root} holds {attrs['env_id']} episodes without attempt/states (written "
                             "before puzzle datasets stored them): regenerate it to train a world model on it")
        return "none", None  # the action is in the attempt's first state; the model sees a passive scene
    low_level = ep.actions()
    if low_level is not None:
        actions = np.zeros((t, VECTOR_DIM), np.float32)
        actions[:t - 1] = low_level
        return "vector", actions
    family = env_family(attrs["env_id"])
    if family == "scenario":
        return "none", None
    if family == "blockstack":
        encoded = [encode_skill(s, attrs["object_names"]) for s in ep.strings("action_json")]
        actions = np.zeros((t, action_dim("skill")), np.float32)
        if encoded:
            actions[:len(encoded)] = np.stack(encoded)
        return "skill", actions
    raise ValueError(f"dataset {root} holds {attrs['env_id']} episodes ({family}); the object world model "
                     "reads scenario, BlockStack and puzzle datasets")
