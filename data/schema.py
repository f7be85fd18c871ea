"""The dataset's contract: schema version, feature keys, generation config and ``meta.json``.

A dataset directory holds ``meta.json`` (this module) and ``episodes/ep_XXXXXX.h5``, one HDF5
file per episode (``data.episode_file``). Everything a reader needs to interpret the bytes is
named here once.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 2
"""Bumped on any change a reader of the previous version would misread; new datasets are written
with it. Version 2 added ``obs/time``, puzzle episodes (``attempt/`` arrays) and, in ``meta.json``,
``versions`` and ``envs``; a version-1 reader would misreport ``obs/time`` as an unknown frame key."""
READABLE_SCHEMA_VERSIONS = (1, 2)
"""Schema versions this reader understands; it refuses any other. Version-1 datasets lack
``obs/time``, ``versions`` and ``envs`` and are read without them."""
FORMAT = "foretell-episodes-hdf5"
META_FILE = "meta.json"
CHECKSUM_FILE = "SHA256SUMS"
EPISODE_DIR = "episodes"
SPLITS = ("train", "test")
SPACES = ("A", "B")
POLICIES = ("auto", "passive", "expert", "noisy_expert", "explore", "random")
CAMERAS = ("front", "top")
FPS = 25  # frames per second of video exports; a frame's simulated time is ``obs/time``
FAMILIES = ("scenario", "blockstack", "puzzle")
VERSIONED_PACKAGES = ("foretell", "mujoco", "h5py", "hdf5", "numpy", "gymnasium")
"""Libraries whose version can change a dataset's bytes (physics, encoding, random streams, seeding)."""

# Per-frame array keys, stored under ``/obs/<key>`` with a leading time axis T.
IMAGE_KEYS = ("rgb", "depth", "segmentation")
OBJECT_KEYS = ("state", "properties", "object_mask", "gripper")
FRAME_KEYS = (*IMAGE_KEYS, *OBJECT_KEYS)
DEFAULT_OBS_KEYS = ("rgb", "depth", "segmentation", "state", "properties", "object_mask")
TIME_KEY = "time"  # (T,) float64 ``/obs/time``: simulated seconds since reset, from the env (schema >= 2)
# Per-step keys (T - 1 of them: the action taken at frame t leads to frame t + 1).
ACTION_KEY = "action"  # (T-1, 4) float32, low-level control only
ACTION_JSON_KEY = "action_json"  # (T-1,) JSON text: the action as the env received it
REWARD_KEY = "reward"  # (T-1,) float32
EVENTS_KEY = "events"  # (T,) JSON text: events of each frame (frame 0: those at reset)
# Episode-level text, stored as scalar string datasets under ``/text/<key>`` (JSON where noted).
TEXT_KEYS = ("caption", "instruction")
JSON_KEYS = ("causal_graph", "total_effect_graph", "graph_agreement", "qa", "interventions", "objects",
             "outcome", "final_positions", "attempt")
ATTEMPT_KEYS = ("positions", "time", "states")  # puzzles: ``/attempt/<key>``, every 40 ms frame of the one attempt
STATE_FIELDS = ("pos_x", "pos_y", "pos_z", "quat_w", "quat_x", "quat_y", "quat_z", "vel_x", "vel_y", "vel_z",
                "angvel_x", "angvel_y", "angvel_z")


class SchemaError(ValueError):
    """A dataset or episode file whose schema this version of foretell cannot read."""


@dataclass(frozen=True)
class TaskSpec:
    """One block of episodes of a dataset: which env, how many, and how they are acted.

    Constructing one checks only what needs no env (counts, names, ranges), so a dataset stays
    readable on a machine without MuJoCo and after an env is renamed; ``check_env`` adds the
    checks against the env registry, and generation calls it.

    Attributes:
        env_id: registered env id, e.g. ``foretell/Collide-v0``.
        episodes: number of episodes (>= 1).
        policy: ``auto`` (passive scenarios watch, BlockStack envs use the expert, puzzles attempt
            uniformly random actions), ``passive``, ``expert``, ``noisy_expert``, ``explore``
            (BlockStack skills: seeded random stacking, the moves a planner asks a world model
            about; ``envs.blockstack.explore``) or ``random``.
        noise: for ``noisy_expert``: the share of low-level steps perturbed (held random
            gripper motions, ``envs.blockstack.expert.PerturbedExpert``), and the probability that
            a high-level action is replaced by a random one.
        max_steps: cap on steps per episode (scenarios: their horizon in frames); None keeps the
            env's default. Puzzles take exactly one step (one attempt).
        qa: also store CLEVRER-style QA pairs (passive scenarios; costs re-simulations).
        total_effect: also store the but-for total-effect graph (costs one re-simulation per object).
    """

    env_id: str
    episodes: int
    policy: str = "auto"
    noise: float = 0.0
    max_steps: int | None = None
    qa: bool = False
    total_effect: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ValueError(f"env_id must be a registered env id such as 'foretell/Collide-v0', got {self.env_id!r}")
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got episodes={self.episodes}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got policy={self.policy!r}")
        if not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"noise must be in [0, 1], got noise={self.noise}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got max_steps={self.max_steps}")

    def check_env(self) -> str:
        """Check ``env_id`` against the env registry and this task's options against its family;
        return the family. Generation only: it imports ``foretell.envs`` (gymnasium, MuJoCo)."""
        from foretell.envs.registry import env_family, list_envs

        if self.env_id not in list_envs():
            raise ValueError(f"unknown env {self.env_id!r}; registered: {sorted(list_envs())}")
        family = env_family(self.env_id)
        if family == "scenario":
            if self.policy not in ("auto", "passive"):
                raise ValueError(f"{self.env_id} is a passive scenario: policy must be 'auto' or 'passive', "
                                 f"got policy={self.policy!r}")
        elif self.qa or self.total_effect:
            raise ValueError(f"{self.env_id}: qa and total_effect apply to passive scenarios only")
        elif family == "puzzle":
            if self.policy not in ("auto", "random"):
                raise ValueError(f"{self.env_id} is a puzzle (one attempt with a continuous action): policy must "
                                 f"be 'auto' or 'random' (uniform actions), got policy={self.policy!r}")
            if self.max_steps is not None:
                raise ValueError(f"{self.env_id} is a puzzle: an episode is exactly one attempt, so max_steps "
                                 f"does not apply; got max_steps={self.max_steps}")
        elif self.policy == "passive":
            raise ValueError(f"{self.env_id}: policy 'passive' applies to passive scenarios only; use expert, "
                             "noisy_expert, explore or random")
        return family

    @property
    def family(self) -> str:
        """``scenario``, ``blockstack`` or ``puzzle`` (from the env registry: generation only)."""
        from foretell.envs.registry import env_family

        return env_family(self.env_id)

    @property
    def is_scenario(self) -> bool:
        return self.family == "scenario"


@dataclass(frozen=True)
class DatasetConfig:
    """Everything that determines a dataset's bytes (worker count and backend do not).

    Attributes:
        tasks: the blocks of episodes, in order; episode indices run through them.
        split: ``train`` or ``test`` (enters every episode's seed, so splits never share scenes).
        space: property space ``A`` (train ranges) or ``B`` (held-out ranges).
        seed: dataset seed; episode i's seeds derive from it (``episode_seeds``).
        image_size: square frame size in pixels.
        camera: ``front`` or ``top``.
        obs_keys: per-frame arrays to store (subset of ``FRAME_KEYS``).
        name: a label for humans.
    """

    tasks: tuple[TaskSpec, ...]
    split: str = "train"
    space: str = "A"
    seed: int = 0
    image_size: int = 64
    camera: str = "front"
    obs_keys: tuple[str, ...] = DEFAULT_OBS_KEYS
    name: str = "dataset"

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("a dataset needs at least one task")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got split={self.split!r}")
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got space={self.space!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got seed={self.seed}")
        if not 8 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in 8..1024, got image_size={self.image_size}")
        if self.camera not in CAMERAS:
            raise ValueError(f"camera must be one of {CAMERAS}, got camera={self.camera!r}")
        unknown = sorted(set(self.obs_keys) - set(FRAME_KEYS))
        if unknown or not self.obs_keys:
            raise ValueError(f"obs_keys must be a non-empty subset of {FRAME_KEYS}, got unknown {unknown}")

    @property
    def episodes(self) -> int:
        return sum(t.episodes for t in self.tasks)

    def check_envs(self) -> None:
        """``TaskSpec.check_env`` for every task (before generating; imports ``foretell.envs``)."""
        for task in self.tasks:
            task.check_env()

    def task_of(self, index: int) -> tuple[int, TaskSpec]:
        """The task (and its position) that episode ``index`` belongs to."""
        start = 0
        for k, task in enumerate(self.tasks):
            if index < start + task.episodes:
                return k, task
            start += task.episodes
        raise IndexError(f"episode {index} is outside 0..{self.episodes - 1}")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["obs_keys"] = list(self.obs_keys)
        out["tasks"] = [dataclasses.asdict(t) for t in self.tasks]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DatasetConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - fields)
        if unknown:
            raise ValueError(f"unknown dataset config keys {unknown}; valid: {sorted(fields)}")
        tasks = tuple(TaskSpec(**t) for t in raw["tasks"])
        rest = {k: v for k, v in raw.items() if k != "tasks"}
        if "obs_keys" in rest:
            rest["obs_keys"] = tuple(rest["obs_keys"])
        return cls(tasks=tasks, **rest)


_SPLIT_CODE = {"train": 0, "test": 1}


def episode_seeds(dataset_seed: int, split: str, index: int) -> tuple[int, int]:
    """``(env_seed, policy_seed)`` of episode ``index``: independent of every other episode.

    Derived as ``SeedSequence(dataset_seed, spawn_key=(split_code, index))`` (the same stream
    ``SeedSequence(dataset_seed).spawn`` would give under the split's key), so any episode can be
    regenerated alone, and train and test never share a scene for the same dataset seed.
    """
    seq = np.random.SeedSequence(dataset_seed, spawn_key=(_SPLIT_CODE[split], index))
    env_seed, policy_seed = seq.generate_state(2, dtype=np.uint32)
    return int(env_seed), int(policy_seed)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that can change a dataset's bytes (``VERSIONED_PACKAGES``).

    Read from package metadata, so nothing heavy (MuJoCo, gymnasium) is imported."""
    from importlib.metadata import PackageNotFoundError, version

    import h5py

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"foretell": installed("foretell"), "mujoco": installed("mujoco"), "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version, "numpy": np.__version__, "gymnasium": installed("gymnasium")}


@dataclass
class DatasetMeta:
    """The content of ``meta.json``.

    Attributes:
        versions: ``library_versions()`` of the generating machine (schema >= 2; empty for older
            datasets). Resume refuses to continue with other versions.
        envs: per env id, what readers need without importing the env: ``family``, ``frame_keys``
            (the ``obs/`` arrays its episodes hold, ``time`` included) and ``action_dim`` (length
            of ``action`` rows, None when only ``action_json`` is stored). Empty for schema-1
            datasets; readers then look at one episode file per env.
    """

    config: DatasetConfig
    schema_version: int = SCHEMA_VERSION
    status: str = "incomplete"  # "complete" once every episode is committed
    counts: dict[str, Any] = field(default_factory=dict)
    variable_graphs: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    envs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        out = {"format": FORMAT, "schema_version": self.schema_version, "status": self.status,
               "env_ids": sorted({t.env_id for t in cfg.tasks}), "split": cfg.split, "space": cfg.space,
               "episodes": cfg.episodes, "fps": FPS,
               "seeds": {"dataset_seed": cfg.seed,
                         "rule": "SeedSequence(dataset_seed, spawn_key=(split_code, episode_index))"
                                 ".generate_state(2) -> (env_seed, policy_seed); split_code train=0 test=1"},
               "config": cfg.to_dict(), "counts": self.counts, "variable_graphs": self.variable_graphs}
        if self.versions:
            out["versions"] = self.versions
        if self.envs:
            out["envs"] = self.envs
        return out


def check_schema(version: Any, where: str) -> None:
    """Raise ``SchemaError`` unless ``version`` is one this reader knows (``READABLE_SCHEMA_VERSIONS``)."""
    if isinstance(version, np.generic):
        version = version.item()
    if version not in READABLE_SCHEMA_VERSIONS:
        raise SchemaError(f"{where}: schema version {version!r} is not supported by this foretell "
                          f"(it reads schema versions {list(READABLE_SCHEMA_VERSIONS)}); upgrade foretell, or "
                          f"regenerate the dataset with this version")


def read_meta(root: str | Path) -> DatasetMeta:
    """Load and check ``root/meta.json``; raise ``SchemaError`` or ``FileNotFoundError`` clearly.

    Imports nothing from ``foretell.envs``: a dataset is readable without MuJoCo or gymnasium."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {root} is not a foretell dataset directory")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path} is not valid JSON: {exc}") from exc
    if raw.get("format") != FORMAT:
        raise SchemaError(f"{path}: format {raw.get('format')!r} is not {FORMAT!r}")
    check_schema(raw.get("schema_version"), str(path))
    return DatasetMeta(config=DatasetConfig.from_dict(raw["config"]), schema_version=raw["schema_version"],
                       status=raw.get("status", "incomplete"), counts=raw.get("counts", {}),
                       variable_graphs=raw.get("variable_graphs", {}), versions=raw.get("versions", {}),
                       envs=raw.get("envs", {}))


def episode_name(index: int) -> str:
    """File name of episode ``index`` inside ``episodes/``."""
    return f"ep_{index:06d}.h5"
