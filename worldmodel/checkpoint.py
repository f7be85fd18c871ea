"""Training-run folders: crash-safe checkpoints and ``load(RUN)``.

A checkpoint is a folder written whole under a temporary name and renamed into place, so after a
``kill -9`` or a power cut a run holds only complete checkpoints (plus, at worst, a ``.tmp-*``
folder that the next start sweeps away). Nothing is pickled: tensors go to safetensors and
everything else to JSON, so loading a checkpoint never runs code from it.

    RUN/
      train_config.json         the TrainConfig, written once at the start
      metrics.jsonl             one JSON line per logged step
      summary.json              the final summary of the last finished run
      tensorboard/              scalars, when tensorboard is installed
      checkpoints/step_00001500/
        model/                  config.json + diffusion_pytorch_model.safetensors (raw weights)
        ema/                    the same for the EMA weights (what ``load`` returns)
        optimizer.safetensors   AdamW's moments and step counts, by parameter name
        state.json              kind, step, EMA counters, optimizer hyper-parameters, RNG scheme, config
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .frame_diffusion import FrameDiffusionModel
from .object_diffusion import ObjectDiffusionModel

KIND = "object"
"""The checkpoint kind of object models and their regressor; frame models write ``"frame"``."""
LOADABLE = {"object": ObjectDiffusionModel, "frame": FrameDiffusionModel}
"""What ``load`` returns, by kind (the regressor loads through ``regressor.load_model``)."""
CHECKPOINT_DIR = "checkpoints"
MODEL_DIR, EMA_DIR = "model", "ema"
OPTIMIZER_FILE, STATE_FILE = "optimizer.safetensors", "state.json"
MODEL_CONFIG = "config.json"
_PREFIX = "step_"


def checkpoint_path(run: str | Path, step: int) -> Path:
    return Path(run) / CHECKPOINT_DIR / f"{_PREFIX}{step:08d}"


def latest_checkpoint(run: str | Path) -> Path | None:
    """The newest complete checkpoint of ``run`` (only complete ones carry their final name)."""
    root = Path(run) / CHECKPOINT_DIR
    found = sorted(p for p in root.glob(f"{_PREFIX}*") if (p / STATE_FILE).is_file()) if root.is_dir() else []
    return found[-1] if found else None


def sweep_partial(run: str | Path) -> int:
    """Remove checkpoint folders a crash left half written; return how many."""
    root = Path(run) / CHECKPOINT_DIR
    partial = list(root.glob(".tmp-*")) if root.is_dir() else []
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return len(partial)


def optimizer_tensors(optimizer: torch.optim.Optimizer, names: list[str]) -> tuple[dict[str, torch.Tensor], list]:
    """AdamW's per-parameter tensors keyed ``<param name>/<slot>``, and its param groups (JSON)."""
    state = optimizer.state_dict()
    tensors = {f"{names[index]}/{slot}": value.detach().cpu().contiguous()
               for index, slots in state["state"].items() for slot, value in slots.items()}
    return tensors, state["param_groups"]


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list,
                   names: list[str]) -> None:
    """Inverse of ``optimizer_tensors``."""
    index = {name: i for i, name in enumerate(names)}
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        name, slot = key.rsplit("/", 1)
        if name not in index:
            raise ValueError(f"optimizer state names parameter {name!r}, which this model does not have")
        state.setdefault(index[name], {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def write_checkpoint(run: str | Path, step: int, model: ObjectDiffusionModel | FrameDiffusionModel,
                     ema_weights: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: dict[str, Any],
                     keep: int, kind: str = KIND) -> Path:
    """Write checkpoint ``step`` of a ``kind`` model atomically (temp folder, fsync, rename) and
    keep the newest ``keep``."""
    final = checkpoint_path(run, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # a finished run asked to save its last step again
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        model.save_pretrained(tmp / MODEL_DIR)
        model.save_config(tmp / EMA_DIR)
        save_file({k: v.detach().cpu().contiguous() for k, v in ema_weights.items()},
                  tmp / EMA_DIR / "diffusion_pytorch_model.safetensors")
        names = [name for name, _ in model.named_parameters()]
        tensors, groups = optimizer_tensors(optimizer, names)
        save_file(tensors, tmp / OPTIMIZER_FILE)
        (tmp / STATE_FILE).write_text(json.dumps({**state, "kind": kind, "step": step,
                                                  "optimizer": {"param_groups": groups}}, indent=2, sort_keys=True))
        _fsync_tree(tmp)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    older = sorted(p for p in final.parent.glob(f"{_PREFIX}*") if p != final)
    for old in older[:max(len(older) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(path: Path, kind: str = KIND) -> tuple[dict[str, Any], dict[str, torch.Tensor],
                                                         dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(state, model weights, EMA weights, optimizer tensors)`` of a checkpoint folder of a
    ``kind`` model; ``ValueError`` for a checkpoint of another kind."""
    state = json.loads((path / STATE_FILE).read_text())
    if state.get("kind") != kind:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"{path} is a checkpoint of a {state.get('kind')!r} world model, not {article} {kind} one")
    return (state, load_file(path / MODEL_DIR / "diffusion_pytorch_model.safetensors"),
            load_file(path / EMA_DIR / "diffusion_pytorch_model.safetensors"), load_file(path / OPTIMIZER_FILE))


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def model_folder(path: str | Path, weights: str = "ema") -> Path:
    """The saved-model folder that ``path`` names: a model folder itself, a checkpoint (its
    ``weights`` subfolder) or a run (its newest checkpoint's)."""
    path = Path(path)
    if weights not in (MODEL_DIR, EMA_DIR):
        raise ValueError(f"weights must be {EMA_DIR!r} or {MODEL_DIR!r}, got {weights!r}")
    if not path.is_dir():
        raise FileNotFoundError(f"{path} not found (expected a run folder from `foretell train world`)")
    if (path / MODEL_CONFIG).is_file():
        return path
    if (path / STATE_FILE).is_file():
        return path / weights
    latest = latest_checkpoint(path)
    if latest is None:
        raise ValueError(f"{path} holds no checkpoint (expected {path}/{CHECKPOINT_DIR}/{_PREFIX}*/ written by "
                         "`foretell train world`)")
    return latest / weights


FRAME_CLASS = FrameDiffusionModel.__name__


def model_class_name(path: str | Path, weights: str = "ema") -> str | None:
    """The ``_class_name`` of the model ``path`` holds (``model_folder``'s rules), None if unreadable."""
    try:
        return json.loads((model_folder(path, weights) / MODEL_CONFIG).read_text()).get("_class_name")
    except (OSError, json.JSONDecodeError):
        return None


def load(run: str | Path, weights: str = "ema", device: str | torch.device = "cpu",
         kind: str | None = None) -> ObjectDiffusionModel | FrameDiffusionModel:
    """The trained world model of ``run`` (its newest checkpoint's EMA weights, with the
    normalisation statistics in its config), in eval mode on ``device``: an
    ``ObjectDiffusionModel`` or a ``FrameDiffusionModel``, whichever the run trained.

    ``run`` may also be one checkpoint folder or a ``save_pretrained`` folder. ``kind``
    (``object`` or ``frame``) insists on one kind. Raises ``ValueError`` for a folder without a
    checkpoint, with another kind of model, or of a kind other than ``kind``.
    """
    if kind is not None and kind not in LOADABLE:
        raise ValueError(f"kind must be one of {sorted(LOADABLE)} or None, got {kind!r}")
    folder = model_folder(run, weights)
    config_file = folder / MODEL_CONFIG
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_file} is missing or not JSON: cannot load a model from {folder}") from exc
    cls = config.get("_class_name")
    wanted = {k: c for k, c in LOADABLE.items() if kind in (None, k)}
    by_name = {c.__name__: c for c in wanted.values()}
    if cls not in by_name:
        what = " or ".join(f"{'an' if k == 'object' else 'a'} {k} world model ({c.__name__})"
                           for k, c in wanted.items())
        raise ValueError(f"{folder} holds a {cls or 'unknown'} model, not {what}")
    model = by_name[cls].from_pretrained(folder)
    return model.to(device).eval()
