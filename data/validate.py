"""Check every episode of a dataset (``foretell data validate``) and summarise it (``data info``).

Validation reads every byte of every episode: HDF5 verifies each chunk's Fletcher-32 checksum
and each object header's checksum on the way, so a truncated file or a flipped byte anywhere is
reported with its episode and file. Nothing here raises on bad data; problems are returned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .episode_file import EpisodeFile
from .schema import (
    ACTION_JSON_KEY,
    ACTION_KEY,
    CHECKSUM_FILE,
    EPISODE_DIR,
    EVENTS_KEY,
    JSON_KEYS,
    META_FILE,
    REWARD_KEY,
    TEXT_KEYS,
    TIME_KEY,
    DatasetConfig,
    episode_name,
    read_meta,
)

_LOW_LEVEL_ENV = "foretell/BlockStackLowLevel-v0"  # schema-1 datasets: the one env that stores gripper


def _problem(index: int | None, path: Path, message: str) -> dict[str, Any]:
    return {"episode": index, "file": str(path), "problem": message}


def expected_frame_keys(ep: EpisodeFile, config: DatasetConfig, envs: dict[str, dict] | None) -> set[str]:
    """The ``obs/`` keys episode ``ep`` should hold: from ``meta.json["envs"]`` (schema >= 2), else
    the schema-1 rule (the configured keys; ``gripper`` for low-level control only)."""
    feature = (envs or {}).get(ep.attrs["env_id"])
    if feature is not None:
        return set(feature["frame_keys"])
    expected = set(config.obs_keys)
    if ep.attrs["env_id"] != _LOW_LEVEL_ENV:
        expected.discard("gripper")
    if ep.schema_version >= 2:
        expected.add(TIME_KEY)
    return expected


def _check_lengths(ep: EpisodeFile, config: DatasetConfig, n: int, envs: dict[str, dict] | None) -> list[str]:
    h5, issues = ep.h5, []
    expected = expected_frame_keys(ep, config, envs)
    if set(ep.frame_keys) != expected:
        issues.append(f"frame keys {ep.frame_keys} differ from the dataset's {sorted(expected)}")
    for key in ep.frame_keys:
        if len(h5["obs"][key]) != n:
            issues.append(f"obs/{key} has {len(h5['obs'][key])} frames, n_frames says {n}")
    for key, want in ((ACTION_JSON_KEY, n - 1), (REWARD_KEY, n - 1), (EVENTS_KEY, n)):
        if key not in h5 or len(h5[key]) != want:
            issues.append(f"{key} should hold {want} entries")
    if ACTION_KEY in h5 and len(h5[ACTION_KEY]) != n - 1:
        issues.append(f"{ACTION_KEY} has {len(h5[ACTION_KEY])} steps, expected {n - 1}")
    return issues


def _read_everything(ep: EpisodeFile) -> list[str]:
    """Decode every dataset (checksums are verified on read); report each that fails."""
    issues = []
    h5 = ep.h5
    names: list[str] = []
    h5.visit(lambda name: names.append(name) if hasattr(h5[name], "shape") else None)
    for name in names:
        try:
            value = h5[name][()]
        except Exception as exc:  # noqa: BLE001 - any read failure is a finding, not a crash
            issues.append(f"{name}: unreadable ({type(exc).__name__}: {exc}); the chunk is corrupted")
            continue
        if name.startswith("json/") or name in (ACTION_JSON_KEY, EVENTS_KEY):
            items = value if isinstance(value, np.ndarray) else [value]
            try:
                for item in items:
                    json.loads(item.decode() if isinstance(item, bytes) else item)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                issues.append(f"{name}: invalid JSON ({exc})")
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            issues.append(f"{name}: holds NaN or inf")
    return issues


def validate_episode(path: Path, index: int, config: DatasetConfig,
                     envs: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """Problems of one episode file (empty when it is sound); ``envs`` is ``meta.json["envs"]``."""
    try:
        with EpisodeFile(path) as ep:
            attrs = ep.attrs
            issues = []
            if attrs.get("episode_index") != index:
                issues.append(f"episode_index attribute is {attrs.get('episode_index')}, expected {index}")
            if attrs.get("env_id") != config.task_of(index)[1].env_id:
                issues.append(f"env_id {attrs.get('env_id')!r} is not the planned {config.task_of(index)[1].env_id!r}")
            missing = [k for k in TEXT_KEYS if k not in ep.h5.get("text", {})]
            missing += [k for k in ("objects", "outcome", "interventions") if k not in ep.h5.get("json", {})]
            if missing:
                issues.append(f"missing fields {missing}")
            unknown_json = sorted(set(ep.json_keys()) - set(JSON_KEYS))
            if unknown_json:
                issues.append(f"unknown JSON fields {unknown_json}")
            issues += _check_lengths(ep, config, int(attrs["n_frames"]), envs)
            issues += _read_everything(ep)
    except Exception as exc:  # noqa: BLE001 - truncated/garbled files must be reported, never crash
        kind = "unreadable: truncated or not an HDF5 file" if isinstance(exc, OSError) else "unreadable"
        return [_problem(index, path, f"{kind} ({type(exc).__name__}: {exc})")]
    return [_problem(index, path, issue) for issue in issues]


def read_checksums(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` from ``SHA256SUMS`` (empty when absent or unreadable)."""
    try:
        lines = (root / CHECKSUM_FILE).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    return {rel: digest for digest, _, rel in (line.partition("  ") for line in lines if line)}


def validate_dataset(root: str | Path, progress: Callable[[Iterable], Iterable] | None = None) -> dict[str, Any]:
    """Check ``meta.json`` and every planned episode; never raises on bad data.

    Returns:
        ``{"ok", "episodes_expected", "episodes_valid", "missing", "problems": [{episode, file,
        problem}], "stray_files"}``.
    """
    root = Path(root)
    try:
        meta = read_meta(root)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "episodes_expected": None, "episodes_valid": 0, "missing": [],
                "problems": [_problem(None, root / META_FILE, str(exc))], "stray_files": []}
    config = meta.config
    problems: list[dict[str, Any]] = []
    missing, valid = [], 0
    indices = range(config.episodes)
    sums = read_checksums(root)
    for index in progress(indices) if progress else indices:
        path = root / EPISODE_DIR / episode_name(index)
        if not path.exists():
            missing.append(index)
            continue
        found = validate_episode(path, index, config, meta.envs)
        expected_sum = sums.get(f"{EPISODE_DIR}/{episode_name(index)}")
        if expected_sum and hashlib.sha256(path.read_bytes()).hexdigest() != expected_sum:
            found.append(_problem(index, path, f"bytes differ from the SHA-256 recorded in {CHECKSUM_FILE} "
                                  "at generation: the file was modified or corrupted"))
        problems += found
        valid += not found
    if missing:
        problems.append(_problem(None, root / EPISODE_DIR, f"{len(missing)} episode(s) missing (first: "
                                 f"{missing[:5]}); finish with `foretell generate ... --resume`"))
    if meta.status == "complete" and not sums:
        problems.append(_problem(None, root / CHECKSUM_FILE, "missing: byte-level integrity cannot be checked"))
    expected = {episode_name(i) for i in indices}
    stray = sorted(p.name for p in (root / EPISODE_DIR).iterdir() if p.name not in expected) \
        if (root / EPISODE_DIR).is_dir() else []
    return {"ok": not problems, "episodes_expected": config.episodes, "episodes_valid": valid,
            "missing": missing, "problems": problems, "stray_files": stray, "status": meta.status}


def dataset_counts(config: DatasetConfig, out: Path) -> dict[str, Any]:
    """Episode, frame, label and size counts over the committed episodes (per env and in total)."""
    per_env: dict[str, dict[str, Any]] = {}
    lengths = []
    for index in range(config.episodes):
        path = out / EPISODE_DIR / episode_name(index)
        if not path.exists():
            lengths.append(0)
            continue
        with EpisodeFile(path) as ep:
            attrs = ep.attrs
        lengths.append(int(attrs["n_frames"]))
        row = per_env.setdefault(attrs["env_id"], {"episodes": 0, "frames": 0, "positive": 0, "bytes": 0})
        row["episodes"] += 1
        row["frames"] += int(attrs["n_frames"])
        row["positive"] += int(bool(attrs["label"]))
        row["bytes"] += path.stat().st_size
    total = {k: sum(r[k] for r in per_env.values()) for k in ("episodes", "frames", "positive", "bytes")}
    for row in (*per_env.values(), total):
        row["label_rate"] = row["positive"] / row["episodes"] if row["episodes"] else None
        row["bytes_per_frame"] = row["bytes"] / row["frames"] if row["frames"] else None
    return {"total": total, "per_env": dict(sorted(per_env.items())), "episode_frames": lengths}


def dataset_info(root: str | Path) -> dict[str, Any]:
    """Counts, split, space, label balance and sizes of a dataset (from ``meta.json``, refreshed
    from the episode files when the dataset is incomplete)."""
    root = Path(root)
    meta = read_meta(root)
    counts = meta.counts if meta.status == "complete" and meta.counts else dataset_counts(meta.config, root)
    total_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {"path": str(root), "schema_version": meta.schema_version, "status": meta.status,
            "split": meta.config.split, "space": meta.config.space, "seed": meta.config.seed,
            "image_size": meta.config.image_size, "obs_keys": list(meta.config.obs_keys),
            "episodes_planned": meta.config.episodes, "tasks": [t.__dict__ for t in meta.config.tasks],
            "counts": counts, "disk_bytes": total_bytes, "versions": meta.versions, "envs": meta.envs}


def info_lines(info: dict[str, Any]) -> list[str]:
    """Human-readable summary of ``dataset_info``."""
    total = info["counts"]["total"]
    rate = total.get("label_rate")
    lines = [f"{info['path']}: schema v{info['schema_version']}, {info['status']}, split {info['split']}, "
             f"space {info['space']}, seed {info['seed']}, {info['image_size']}px {','.join(info['obs_keys'])}",
             f"episodes {total['episodes']}/{info['episodes_planned']}, frames {total['frames']}, "
             f"positive labels {'n/a' if rate is None else f'{100 * rate:.1f}%'}, "
             f"{info['disk_bytes'] / 1e6:.1f} MB on disk"
             + (f" ({total['bytes_per_frame']:.0f} bytes/frame)" if total.get("bytes_per_frame") else "")]
    for env_id, row in info["counts"]["per_env"].items():
        rate = row["label_rate"]
        lines.append(f"  {env_id:34s} {row['episodes']:6d} episodes {row['frames']:8d} frames  label "
                     f"{'n/a' if rate is None else f'{100 * rate:5.1f}%'}")
    return lines
