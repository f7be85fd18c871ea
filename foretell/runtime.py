"""App-level helpers: seeding, device resolution, atomic writes and run directories."""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's ``random`` and torch; return a fresh NumPy Generator for this seed.

    foretell's own code never reads global random state (it takes a seed or a Generator); this
    is for scripts that call third-party code which does.
    """
    random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return np.random.default_rng(seed)


def resolve_device(device: str = "auto") -> str:
    """Map ``auto|cpu|cuda|cuda:N|mps`` to a torch device string; raise if it is not there."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but CUDA is not available on this machine")
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} requested but only {torch.cuda.device_count()} CUDA devices exist")
        return device
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device='mps' requested but MPS is not available on this machine")
        return device
    raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda, cuda:N or mps")


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temp file in the same folder (``.<name>.*.tmp``),
    fsync, an atomic rename and an fsync of the folder, so readers see the whole file or nothing,
    even after a power cut. The file gets the usual permissions (0666 less the umask), not
    ``mkstemp``'s 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def make_run_dir(root: str | os.PathLike = "runs", name: str = "run") -> Path:
    """Create ``root/<name>-<UTC timestamp>`` (never inside the ``data/`` source folder)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    run = Path(root) / f"{name}-{stamp}"
    suffix = 1
    while run.exists():
        run = Path(root) / f"{name}-{stamp}-{suffix}"
        suffix += 1
    run.mkdir(parents=True)
    return run


def check_writable(path: str | os.PathLike) -> Path:
    """Check, before any work, that a file can be written at ``path``: its folder exists or can be
    made, and a file can be created in it. Raises ``ValueError`` naming the path and the reason."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".foretell-write-check."):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
