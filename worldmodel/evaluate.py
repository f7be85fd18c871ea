"""A first sanity read-out: final-position error at H steps, the model against simple baselines.

The full prediction metrics (``predict-ocp-v0``: contact probabilities, calibration) come later;
this says whether a trained model has learnt anything a straight line does not know.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .data import load_windows
from .object_diffusion import ObjectDiffusionModel


@torch.no_grad()
def final_position_error(model: ObjectDiffusionModel, data: Sequence[str | Path], num_samples: int = 8,
                         num_steps: int = 4, stride: int = 4, batch_size: int = 128, seed: int = 0) -> dict:
    """Mean distance (m) between predicted and true positions H steps after the last observed state.

    Windows start every ``stride`` frames of every episode of ``data``. Reported per object and
    window, over real objects: the model's sample mean (``model_mean_error_m``), its average
    single sample (``model_sample_error_m``), constant-velocity extrapolation from the last
    observed velocity, and "nothing moves".
    """
    if stride < 1 or num_samples < 1:
        raise ValueError(f"stride and num_samples must be >= 1, got stride={stride}, num_samples={num_samples}")
    cfg = model.config
    windows = load_windows(data, cfg.history, cfg.horizon)
    index = np.arange(len(windows))
    new_episode = np.diff(windows.starts, prepend=-2) != 1  # a window not one frame after the last begins an episode
    offset = index - np.maximum.accumulate(np.where(new_episode, index, 0))  # frames since its episode's first window
    chosen = np.flatnonzero(offset % stride == 0)
    generator = torch.Generator().manual_seed(seed)
    errors: dict[str, list[torch.Tensor]] = {"model_mean": [], "model_sample": [], "constant_velocity": [],
                                             "stationary": []}
    device = model.device
    for chunk in np.array_split(chosen, max(1, int(np.ceil(len(chosen) / batch_size)))):
        batch = windows.batch(chunk)
        known = batch["properties_known"].bool().all()
        samples = model.sample(batch["history"], batch["properties"] if known else None, batch["mask"],
                               batch.get("actions"), num_samples, num_steps, generator).cpu()  # (B, S, H, N, 13)
        truth = batch["future"][:, -1, :, :3]  # (B, N, 3)
        last = batch["history"][:, -1]  # (B, N, 13)
        keep = batch["mask"]
        final = samples[:, :, -1, :, :3]  # (B, S, N, 3)
        predictions = {"model_mean": final.mean(dim=1), "stationary": last[..., :3],
                       "constant_velocity": last[..., :3] + last[..., 7:10] * cfg.horizon / cfg.fps}
        for name, predicted in predictions.items():
            errors[name].append((predicted - truth).norm(dim=-1)[keep])
        errors["model_sample"].append((final - truth[:, None]).norm(dim=-1).mean(dim=1)[keep])
    out = {f"{name}_error_m": float(torch.cat(values).mean()) for name, values in errors.items()}
    return {**out, "windows": int(len(chosen)), "objects": int(torch.cat(errors["stationary"]).numel()),
            "horizon_steps": cfg.horizon, "horizon_s": cfg.horizon / cfg.fps, "num_samples": num_samples,
            "num_steps": num_steps, "device": str(device)}
