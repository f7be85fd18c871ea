"""Training the world models: ``train(TrainConfig(...))`` or ``foretell train world``.

One loop for every kind: the object diffusion model and its regressor train on state windows
(``data``), the frame diffusion model on frame windows (``frame_data``); each model brings its
own ``training_loss``, and everything else (seeding, EMA, checkpoints, logs, DDP) is shared.

Reproducible by construction: step s of rank r draws its batch, noise levels and noise from a
generator seeded with ``SeedSequence([seed, r, s])``, on the CPU. Nothing random carries over
from one step to the next, so a run resumed from step s's checkpoint (model, EMA and optimizer
tensors restored bit for bit) computes exactly the losses the uninterrupted run did.

Under ``torchrun`` (``WORLD_SIZE`` > 1) it trains with DistributedDataParallel: gloo on the CPU,
nccl on CUDA; each rank draws its own ``batch_size`` windows, so the global batch is
``batch_size * world_size``; rank 0 writes metrics and checkpoints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from foretell.runtime import atomic_write_bytes, atomic_write_json, resolve_device

from .checkpoint import (
    EMA_DIR,
    KIND,
    MODEL_CONFIG,
    MODEL_DIR,
    latest_checkpoint,
    load_optimizer,
    read_checkpoint,
    sweep_partial,
    write_checkpoint,
)
from .data import WindowSet, load_windows, widen_size_range
from .frame_data import FrameWindowSet, load_frame_windows
from .frame_diffusion import FrameDiffusionModel
from .regressor import MODEL_CLASSES as OBJECT_MODEL_CLASSES

TRAIN_CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = "train_config.json", "metrics.jsonl", "summary.json"
RUNTIME_FIELDS = ("device", "bf16", "compile")
"""Fields a resumed run may change: they decide where and how fast it runs, not what it learns."""
DATA_FIELDS = ("action_kind", "property_dim", "image_size", "fps", "stats")
"""Model arguments that come from the data, never from the user."""
MODEL_CLASSES = {**OBJECT_MODEL_CLASSES, "frame": FrameDiffusionModel}
"""World-model kind (``TrainConfig.kind``) -> the model class a run of that kind trains."""
KIND_DEFAULTS = {"frame": {"steps": 600, "batch_size": 16, "lr": 1e-3}}
"""Defaults that differ by kind (else 1500 steps of 64 windows at lr 3e-4): the frame model's
default run is sized for the 15-minute budget of a 2-core CPU, and at that budget lr 1e-3 beat
3e-4 (docs/results.md, "Frame model")."""


@dataclass
class TrainConfig:
    """Everything a training run depends on (stored as ``RUN/train_config.json``).

    Attributes:
        data: dataset folders (``foretell generate`` output) to train on together.
        out: the run folder.
        kind: world-model kind: ``object`` (the diffusion model), ``regressor`` (its deterministic
            baseline, ``regressor.ObjectRegressorModel``: same trunk, MSE loss) or ``frame`` (the
            pixel diffusion model, ``FrameDiffusionModel``).
        steps: optimizer steps (None: 1500; 600 for ``frame``).
        batch_size: windows per step and rank (None: 64; 16 for ``frame``).
        lr: peak learning rate (AdamW; None: 3e-4; 1e-3 for ``frame``).
        lr_schedule: ``cosine`` (linear warm-up, then cosine down to 10%) or ``constant``.
        warmup_steps: linear warm-up length.
        weight_decay: AdamW weight decay.
        grad_clip: gradient-norm clip (0: none).
        ema_decay: the EMA's longest-run decay (diffusers' EMAModel with warm-up).
        property_dropout: probability of hiding a scene's properties, so the model also learns
            to predict when they are unknown (object kinds only).
        checkpoint_every: steps between checkpoints (the last step always gets one).
        keep_checkpoints: newest checkpoints kept.
        log_every: steps between metrics lines.
        seed: the one seed of the run (initial weights and every step's randomness).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        bf16: bfloat16 autocast (meant for GPUs; it runs, slower, on CPUs).
        compile: ``torch.compile`` the denoiser (meant for GPUs; on a CPU it needs a C++ compiler).
        scale_augment: skill data only: each training window's scene is scaled by a factor drawn
            log-uniformly from [1 / s, s] (``data.scale_scene``), and the stored size range widened
            to match, so a model trained on space-A sizes has seen space B's (1 = off).
        motion_weight: object kinds only: draw windows in which objects move more often
            (``WindowSet.sample_batch``; 0 = uniform). A puzzle attempt is 4 s, most of it at rest.
        start_weight: object kinds only: draw the windows that open an episode 1 + S times as
            often (``WindowSet.draw``; 0 = off): the puzzle attempt's release.
        model: the model class's arguments: ``ObjectDiffusionModel``'s (history, horizon,
            hidden_dim, num_layers, ...) or ``FrameDiffusionModel``'s (history, target,
            block_out_channels, context_noise_max, ...).
    """

    data: tuple[str, ...]
    out: str
    kind: str = "object"
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    lr_schedule: str = "cosine"
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    property_dropout: float = 0.1
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    bf16: bool = False
    compile: bool = False
    scale_augment: float = 1.0
    motion_weight: float = 0.0
    start_weight: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = tuple(str(d) for d in ([self.data] if isinstance(self.data, (str, Path)) else self.data))
        self.out = str(self.out)
        if not self.data:
            raise ValueError("data must name at least one dataset folder")
        if self.kind not in MODEL_CLASSES:
            raise ValueError(f"kind={self.kind!r}: built kinds are {sorted(MODEL_CLASSES)}")
        defaults = {"steps": 1500, "batch_size": 64, "lr": 3e-4, **KIND_DEFAULTS.get(self.kind, {})}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {name}={getattr(self, name)}")
        for name in ("warmup_steps", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {name}={getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got lr={self.lr}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        for name in ("ema_decay", "property_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {name}={getattr(self, name)}")
        if not 1.0 <= self.scale_augment <= 3.0:
            raise ValueError(f"scale_augment must be in [1, 3] (1: off), got {self.scale_augment}")
        if self.scale_augment != 1.0 and self.kind == "frame":
            raise ValueError("scale_augment applies to object models trained on skill data, not to --kind frame")
        for name in ("motion_weight", "start_weight"):
            if not 0.0 <= getattr(self, name) <= 100.0:
                raise ValueError(f"{name} must be in [0, 100] (0: off), got {getattr(self, name)}")
            if getattr(self, name) and self.kind == "frame":
                raise ValueError(f"{name} applies to object models (--kind object or regressor), not to --kind frame")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError(f"weight_decay and grad_clip must be >= 0, got {self.weight_decay}, {self.grad_clip}")
        allowed = set(inspect.signature(MODEL_CLASSES[self.kind].__init__).parameters) - {"self", *DATA_FIELDS}
        unknown = sorted(set(self.model) - allowed)
        if unknown:
            raise ValueError(f"unknown model arguments {unknown}; valid: {sorted(allowed)}")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "data": list(self.data)}

    @classmethod
    def from_run(cls, run: str | Path) -> TrainConfig:
        """The config a run was started with."""
        path = Path(run) / TRAIN_CONFIG_FILE
        if not path.is_file():
            raise ValueError(f"{run} holds no training run ({TRAIN_CONFIG_FILE} not found); start one without --resume")
        return cls(**json.loads(path.read_text()))


def command_config(out: str | Path, resume: bool, **given: Any) -> TrainConfig:
    """The config of ``foretell train world``: a new run from the given options (None: default),
    or, with ``resume``, the run's stored config with the given options laid over it (``train``
    then refuses any that changed outside ``RUNTIME_FIELDS``). ``history``, ``horizon``,
    ``hidden_dim``, ``num_layers``, ``skill_prior``, ``velocity_prior`` and ``relational`` go to the model's
    arguments."""
    base = TrainConfig.from_run(out).to_dict() if resume else {"out": str(out), "data": ()}
    model = dict(base.get("model", {}))
    for key, value in given.items():
        if value is None:
            continue
        if key in ("history", "horizon", "hidden_dim", "num_layers", "skill_prior", "velocity_prior",
                   "clamp_properties", "relational"):
            model[key] = value
        else:
            base[key] = value
    if not resume and not base["data"]:
        raise ValueError("--data DIR is required to start a run (repeat it to train on several datasets)")
    for flag in ("skill_prior", "velocity_prior", "relational"):
        if base.get("kind") == "frame" and given.get(flag) is not None:
            raise ValueError(f"--{flag.replace('_', '-')} applies to object models, not to --kind frame")
    if base.get("kind") == "frame" and given.get("horizon") is not None:
        raise ValueError("--horizon does not apply to --kind frame: it predicts one frame at a time; choose the "
                         "rollout length when evaluating (foretell eval frames --horizon)")
    return TrainConfig(**{**base, "model": model})


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of optimizer step ``step`` (1-based): a pure function, so resuming needs no state."""
    if step <= config.warmup_steps:
        return config.lr * step / max(config.warmup_steps, 1)
    if config.lr_schedule == "constant":
        return config.lr
    progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    return float(config.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(progress, 1.0)))))


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The CPU generator of every random draw of ``step`` on ``rank``."""
    words = np.random.SeedSequence([seed, rank, step]).generate_state(2)
    return torch.Generator().manual_seed((int(words[0]) << 31) ^ int(words[1]))


def train(config: TrainConfig, resume: bool = False, progress: Callable[[Iterable], Iterable] | None = None,
          on_step: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train (or, with ``resume``, continue) the run ``config.out``; return the summary.

    ``progress`` wraps the step range (a progress bar), ``on_step(step, loss)`` is called after
    every step. Raises ``ValueError`` for a run folder that already holds a run (without
    ``resume``), for a resumed run whose config differs outside ``RUNTIME_FIELDS``, and for data
    the model cannot read.
    """
    run = Path(config.out)
    rank, world, local_rank, own_group = _init_distributed(config.device)
    try:
        device = resolve_device(config.device)
        if world > 1 and device.startswith("cuda"):
            device = f"cuda:{local_rank}"
            torch.cuda.set_device(device)
        _check_run(run, config, resume, rank)
        checkpoint = latest_checkpoint(run) if resume else None
        windows = (load_frame_windows(config.data, _window_args(config)["history"]) if config.kind == "frame"
                   else load_windows(config.data, **_window_args(config)))
        return _train(config, run, windows, checkpoint, device, rank, world, progress if rank == 0 else None,
                      on_step)
    finally:
        if own_group:
            torch.distributed.destroy_process_group()


def _window_args(config: TrainConfig) -> dict[str, int]:
    defaults = inspect.signature(MODEL_CLASSES[config.kind].__init__).parameters
    return {k: int(config.model.get(k, defaults[k].default)) for k in ("history", "horizon") if k in defaults}


def _new_model(config: TrainConfig, windows: WindowSet | FrameWindowSet, checkpoint: Path | None) -> torch.nn.Module:
    """A fresh model of ``config.kind`` with the arguments that come from the data; a resumed run
    keeps what its model was built with (the data may have grown since)."""
    saved = json.loads((checkpoint / MODEL_DIR / MODEL_CONFIG).read_text()) if checkpoint is not None else None
    if config.kind == "frame":
        stats = saved["stats"] if saved is not None else windows.statistics(config.seed)
        return FrameDiffusionModel(**config.model, stats=stats, action_kind=windows.action_kind,
                                   image_size=windows.image_size, fps=windows.fps)
    args = dict(config.model)
    if config.kind == "object" and "velocity_prior" not in args:  # default: on for per-frame data
        args["velocity_prior"] = bool(saved.get("velocity_prior", False)) if saved is not None else \
            windows.action_kind != "skill"
    stats = saved["stats"] if saved is not None else widen_size_range(
        windows.statistics(config.seed, args.get("skill_prior", False), args.get("velocity_prior", False)),
        config.scale_augment)
    return MODEL_CLASSES[config.kind](**args, stats=stats, action_kind=windows.action_kind,
                                      property_dim=windows.property_dim, fps=windows.fps)


def _checkpoint_kind(config: TrainConfig) -> str:
    """What a run's checkpoints say they hold: ``frame``, or ``object`` (object model and regressor)."""
    return "frame" if config.kind == "frame" else KIND


def _check_run(run: Path, config: TrainConfig, resume: bool, rank: int) -> None:
    if resume:
        stored = TrainConfig.from_run(run).to_dict()
        differ = sorted(k for k, v in config.to_dict().items() if k not in RUNTIME_FIELDS and stored.get(k) != v)
        if differ:
            changes = ", ".join(f"{k} {stored.get(k)!r} -> {config.to_dict()[k]!r}" for k in differ)
            raise ValueError(f"--resume with a different config: {changes}; resume with the run's own settings")
    elif (run / TRAIN_CONFIG_FILE).exists():
        raise ValueError(f"{run} already holds a training run; pass --resume to continue it, or choose another --out")
    _barrier()  # every rank has looked at the folder before rank 0 writes to it (else rank 1 may see rank 0's run)
    if rank == 0:
        sweep_partial(run)
        if not resume:
            atomic_write_json(run / TRAIN_CONFIG_FILE, config.to_dict())
    _barrier()


def _train(config: TrainConfig, run: Path, windows: WindowSet | FrameWindowSet, checkpoint: Path | None, device: str, rank: int,
           world: int, progress, on_step) -> dict[str, Any]:
    with torch.random.fork_rng(devices=[]):  # the initial weights depend on the seed alone
        torch.manual_seed(config.seed)
        model = _new_model(config, windows, checkpoint)
    from diffusers.training_utils import EMAModel

    ema = EMAModel(model.parameters(), decay=config.ema_decay, use_ema_warmup=True, inv_gamma=1.0, power=2 / 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = 0
    names = [n for n, _ in model.named_parameters()]
    if checkpoint is not None:
        state, weights, ema_weights, opt_tensors = read_checkpoint(checkpoint, _checkpoint_kind(config))
        model.load_state_dict(weights)
        ema.shadow_params = [ema_weights[n].clone() for n in names]
        ema.optimization_step = state["ema"]["optimization_step"]
        load_optimizer(optimizer, opt_tensors, state["optimizer"]["param_groups"], names)
        start = state["step"]
    model.to(device)
    ema.to(device)
    for slots in optimizer.state.values():  # moments follow the parameters; AdamW keeps step counts on the CPU
        for slot, value in slots.items():
            if slot != "step":
                slots[slot] = value.to(device)
    denoiser: torch.nn.Module = model
    if world > 1:
        denoiser = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if "cuda" in device else None)
    if config.compile:
        denoiser = torch.compile(denoiser)
    log = _Log(run, start, rank == 0)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if config.bf16 else nullcontext()
    steps = range(start + 1, config.steps + 1)
    bar = progress(steps) if progress is not None else steps
    t0, last_loss = time.perf_counter(), None
    for step in bar:
        generator = step_generator(config.seed, rank, step)
        batch = windows.sample_batch(config.batch_size, generator, **(
            {"scale": config.scale_augment, "motion_weight": config.motion_weight, "start_weight": config.start_weight}
            if config.kind != "frame" else {}))
        batch = {k: v.to(device) for k, v in batch.items()}
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        with autocast:
            loss = model.training_loss(batch, generator, denoiser, config.property_dropout)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or float("inf"))
        optimizer.step()
        ema.step(model.parameters())
        last_loss = _mean_over_ranks(loss.detach(), world)
        log.add(step, last_loss, float(grad_norm), optimizer.param_groups[0]["lr"], config.batch_size * world)
        saving = step % config.checkpoint_every == 0 or step == config.steps
        if saving or step % config.log_every == 0:  # a line at every checkpoint: a resumed run averages alike
            log.flush(step)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{last_loss:.4f}")
        if on_step is not None:
            on_step(step, last_loss)
        if saving:
            if rank == 0:
                write_checkpoint(run, step, model, dict(zip(names, ema.shadow_params, strict=True)), optimizer,
                                 {"ema": {"optimization_step": ema.optimization_step, "decay": config.ema_decay},
                                  "rng": {"scheme": "step s of rank r: torch CPU generator seeded by "
                                                    "SeedSequence([seed, r, s]).generate_state(2)",
                                          "seed": config.seed},
                                  "world_size": world, "train_config": config.to_dict()},
                                 config.keep_checkpoints, _checkpoint_kind(config))
            _barrier()
    log.close()
    digests = _gather([_digest(model.parameters()), _digest(ema.shadow_params)], world)
    summary = {"run": str(run), "kind": config.kind, "steps": config.steps, "resumed_from_step": start,
               "final_loss": log.last_loss if last_loss is None else last_loss,
               "samples_per_s": log.throughput(), "wall_s": round(time.perf_counter() - t0, 2),
               "parameters": sum(p.numel() for p in model.parameters()), "windows": len(windows),
               "action_kind": windows.action_kind, "device": device, "world_size": world,
               "checkpoint": str(latest_checkpoint(run) / EMA_DIR) if rank == 0 else None,
               "weights_digest_per_rank": digests}
    if rank == 0:
        atomic_write_json(run / SUMMARY_FILE, summary)
    return summary


class _Log:
    """metrics.jsonl (always) and TensorBoard scalars (when installed), on rank 0.

    On resume the lines after the checkpoint's step are dropped first: the resumed run writes
    them again, so the file reads as one uninterrupted run.
    """

    def __init__(self, run: Path, start: int, active: bool) -> None:
        self.active, self.path, self.pending = active, run / METRICS_FILE, []
        self.last_loss, self.samples, self.seconds, self.t = None, 0, 0.0, time.perf_counter()
        self.writer = None
        if not active:
            return
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= start]
        if kept:
            self.last_loss = json.loads(kept[-1])["loss"]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode())
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run / "tensorboard"), purge_step=start + 1)
        except ImportError:  # tensorboard is an optional extra
            pass

    def add(self, step: int, loss: float, grad_norm: float, lr: float, samples: int) -> None:
        self.pending.append((loss, grad_norm, lr))
        self.samples += samples

    def flush(self, step: int) -> None:
        if not self.pending:
            return
        losses, norms, lrs = zip(*self.pending, strict=True)
        now = time.perf_counter()
        self.seconds += now - self.t
        record = {"step": step, "loss": float(np.mean(losses)), "grad_norm": float(np.mean(norms)), "lr": lrs[-1],
                  "samples_per_s": round(self.samples / max(self.seconds, 1e-9), 1)}
        self.t, self.pending, self.last_loss = now, [], record["loss"]
        if not self.active:
            return
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key in ("loss", "grad_norm", "lr", "samples_per_s"):
                self.writer.add_scalar(f"train/{key}", record[key], step)

    def throughput(self) -> float:
        return round(self.samples / max(self.seconds, 1e-9), 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _digest(tensors: Iterable[torch.Tensor]) -> str:
    sha = hashlib.sha256()
    for t in tensors:
        sha.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


def _init_distributed(device: str) -> tuple[int, int, int, bool]:
    """(rank, world size, local rank, whether this call created the process group)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0, False
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), local_rank, False
    cuda = device != "cpu" and torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), local_rank, True


def _barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _mean_over_ranks(value: torch.Tensor, world: int) -> float:
    if world > 1:
        value = value.clone()
        torch.distributed.all_reduce(value)
        value /= world
    return float(value)


def _gather(item: Any, world: int) -> list:
    if world == 1:
        return [item]
    out = [None] * world
    torch.distributed.all_gather_object(out, item)
    return out
