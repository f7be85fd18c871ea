"""What the frame world model imagines, measured: ``foretell eval frames`` and ``worldmodel show``.

- **PSNR and SSIM per rollout step.** From every test episode, ``windows`` context windows of K
  real frames, evenly spaced over the episode; the model imagines H frames autoregressively (S
  samples each) and every imagined frame is compared with the true one. The copy-last-frame
  baseline (every future frame = the last context frame) is scored on the same windows. PSNR at
  step h is ``10 log10(1 / MSE)`` of the mean squared error over all windows and samples at that
  step (pixels in [0, 1]); a mean of per-frame PSNRs would be infinite wherever a scene is at rest
  and copy-last is exact. SSIM is the usual Gaussian-window SSIM (11 px, sigma 1.5, K1 0.01,
  K2 0.03, per colour channel, over the valid region), averaged over frames.
- **Contact read from frames** (passive scenario datasets with states and events stored): each
  episode is observed up to predict-ocp-v0's cut (``ocp.cut_dataset``: a fixed lead before the
  first agent-patient contact, a matched random cut otherwise), the model imagines the next H
  frames, and contact is read off pixels: agent (red) and patient (yellow) are segmented by
  colour (``colour_masks``), and they touch in a frame when the agent's mask dilated by one pixel
  covers at least ``MIN_TOUCH_PIXELS`` of the patient's. A sample says "contact" when they touch in any of its H frames;
  p(contact) is the share of samples. The truth is the recorded first contact falling within
  those H frames. The same read-out on the true future frames is the read-out's own ceiling, and
  on the last observed frame held still, the copy-last baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from foretell.data import EpisodeFile, read_meta
from foretell.data.schema import EPISODE_DIR, episode_name

from .data import _episode_actions
from .frame_data import RGB_KEY, check_rgb
from .frame_diffusion import FrameDiffusionModel

TABLE_RGB = (0.72, 0.6, 0.45)
"""The table's colour (envs/sim/scene.py): a competitor in segmentation, so table pixels never
count as an object."""
MIN_BRIGHTNESS = 0.15
"""r + g + b (each in [0, 1]) below which a pixel's hue is unreliable (shadow, black background)."""
MAX_CHROMA_DISTANCE = 0.15
"""Largest chromaticity distance to the nearest scene colour for a pixel to take that colour.
Checked against the rendered segmentation on four 64 px Collide episodes: agent and patient masks
have precision 0.999, recall 0.83 (shading and highlights lose some edge pixels)."""
MIN_TOUCH_PIXELS = 3
"""Patient pixels the agent's dilated mask must cover to call contact. Chosen on 80 Collide
training episodes at 64 px (true future frames, 8 after each predict-ocp-v0 cut): accuracy 0.73
at 1 pixel (22 false alarms: near misses and objects passing in front of each other come within
a pixel on screen), 0.76 at 2, 0.84 at 3, 0.81 at 4, 0.65 at 5."""
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03  # Wang et al. 2004
_FAR = 10.0  # chromaticity of padding palette entries: never the nearest


# ---------------------------------------------------------------------------- image metrics
def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM of uint8 images ``(..., S, S, 3)`` -> ``(...)``, averaged over channels and the valid
    region of the Gaussian window."""
    lead = x.shape[:-3]
    a = x.reshape(-1, *x.shape[-3:]).movedim(-1, 1).float() / 255.0  # (N, 3, S, S)
    b = y.reshape(-1, *y.shape[-3:]).movedim(-1, 1).float() / 255.0
    size = min(SSIM_WINDOW, a.shape[-1])
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(3, 1, size, size)  # (3, 1, w, w): one per channel

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=3)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return value.mean(dim=(1, 2, 3)).reshape(lead)


def squared_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of uint8 images ``(..., S, S, 3)`` in [0, 1] units -> ``(...)``."""
    return ((x.float() - y.float()) / 255.0).pow(2).mean(dim=(-3, -2, -1))


def psnr(mse: float) -> float:
    """PSNR (dB) of a mean squared error of pixels in [0, 1]."""
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


# ---------------------------------------------------------------------------- contact from pixels
def colour_masks(frames: torch.Tensor, palette: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Masks of the palette colours ``targets`` in uint8 frames.

    Args:
        frames: ``(B, T, S, S, 3)`` uint8.
        palette: ``(B, P, 3)`` the scene's colours (rgb in [0, 1]); the table is added here.
        targets: ``(B, M)`` palette rows to segment.

    Returns:
        ``(B, T, M, S, S)`` bool: pixels whose chromaticity is nearest that colour's, within
        ``MAX_CHROMA_DISTANCE``, and bright enough to tell.
    """
    b = frames.shape[0]
    table = torch.tensor(TABLE_RGB).expand(b, 1, 3)
    colours = torch.cat([palette.float(), table], dim=1)  # (B, P + 1, 3)
    chroma_ref = colours / colours.sum(-1, keepdim=True).clamp_min(1e-6)
    rgb = frames.float() / 255.0  # (B, T, S, S, 3)
    brightness = rgb.sum(-1, keepdim=True)
    chroma = rgb / brightness.clamp_min(1e-6)
    distance = torch.cdist(chroma.reshape(b, -1, 3), chroma_ref)  # (B, T S S, P + 1)
    nearest_distance, nearest = distance.min(dim=-1)
    ok = (nearest_distance <= MAX_CHROMA_DISTANCE) & (brightness.reshape(b, -1) >= MIN_BRIGHTNESS)
    label = torch.where(ok, nearest, -1).view(*frames.shape[:-1])  # (B, T, S, S)
    return label[:, :, None] == targets[:, None, :, None, None]  # (B, T, M, S, S)


def masks_touch(a: torch.Tensor, b: torch.Tensor, min_pixels: int = MIN_TOUCH_PIXELS) -> torch.Tensor:
    """Whether mask ``a`` dilated by one pixel (8-neighbourhood) covers at least ``min_pixels``
    of mask ``b`` (colour masks are disjoint, so touching objects meet only after dilation):
    ``(..., S, S)`` bool each -> ``(...)`` bool."""
    lead = a.shape[:-2]
    grown = F.max_pool2d(a.reshape(-1, 1, *a.shape[-2:]).float(), 3, stride=1, padding=1).bool()
    return (grown.view(*lead, *a.shape[-2:]) & b).flatten(-2).sum(dim=-1) >= min_pixels


def contact_in_frames(frames: torch.Tensor, palette: torch.Tensor, agent_patient: torch.Tensor) -> torch.Tensor:
    """``(B, T, S, S, 3)`` uint8 -> ``(B,)`` bool: agent and patient touch in any frame."""
    masks = colour_masks(frames, palette, agent_patient)  # (B, T, 2, S, S)
    return masks_touch(masks[:, :, 0], masks[:, :, 1]).any(dim=1)


# ---------------------------------------------------------------------------- episodes and windows
def _episodes(root: Path, model: FrameDiffusionModel) -> list[dict]:
    """Frames, actions and (for scenario episodes with events) palette, agent and patient rows."""
    from foretell.envs.sim.properties import COLORS  # only here: foretell.envs loads MuJoCo

    check_rgb(root)
    meta = read_meta(root)
    out = []
    for i in range(meta.config.episodes):
        path = root / EPISODE_DIR / episode_name(i)
        if not path.exists():
            continue
        with EpisodeFile(path) as ep:
            frames = ep.frames(RGB_KEY)
            if frames.shape[1] != model.config.image_size:
                raise ValueError(f"{path} stores {frames.shape[1]} px frames; the model was trained on "
                                 f"{model.config.image_size} px")
            kind, actions = _episode_actions(ep, ep.attrs, root)
            if kind != model.config.action_kind:
                raise ValueError(f"{root} holds {kind!r} actions; the model takes {model.config.action_kind!r}")
            episode = {"path": str(path), "dataset": str(root), "frames": frames, "actions": actions}
            outcome = ep.json("outcome") if "json/outcome" in ep.h5 else {}
            if "agent" in outcome and "json/objects" in ep.h5:
                colour = {o["name"]: o["color"] for o in ep.json("objects")}
                names = ep.attrs["object_names"]
                episode["palette"] = np.array([COLORS[colour[n]] for n in names], np.float32)
                episode["agent_patient"] = np.array([names.index(outcome["agent"]), names.index(outcome["patient"])])
        out.append(episode)
    if not out:
        raise ValueError(f"dataset {root} holds no episodes yet")
    return out


def _padded_palettes(episodes: Sequence[dict]) -> torch.Tensor:
    """``(B, P, 3)``: each episode's colours, padded with colours nothing is near."""
    p = max(len(e["palette"]) for e in episodes)
    out = np.full((len(episodes), p, 3), _FAR, np.float32)
    for i, e in enumerate(episodes):
        out[i, :len(e["palette"])] = e["palette"]
    return torch.from_numpy(out)


def _window(episode: dict, end: int, k: int, horizon: int) -> dict:
    """Context frames ``end - K + 1 .. end``, the true next H frames, and the actions."""
    frames = episode["frames"]
    out = {"context": frames[end - k + 1:end + 1], "future": frames[end + 1:end + 1 + horizon]}
    if episode["actions"] is not None:
        out["actions"] = episode["actions"][end - k + 1:end + horizon]  # (K - 1 + H, A)
    return out


def _imagine(model: FrameDiffusionModel, windows: list[dict], samples: int, steps: int, horizon: int,
             generator: torch.Generator, batch_size: int, progress) -> torch.Tensor:
    """``(W, S, H, S, S, 3)`` uint8 imagined futures of every window, in batches."""
    chunks = list(range(0, len(windows), batch_size))
    out = []
    for start in (progress(chunks) if progress else chunks):
        part = windows[start:start + batch_size]
        context = torch.from_numpy(np.stack([w["context"] for w in part]))  # (B, K, S, S, 3)
        actions = torch.from_numpy(np.stack([w["actions"] for w in part])) if "actions" in part[0] else None
        out.append(model.rollout(context, horizon, actions, samples, steps, generator).cpu())
    return torch.cat(out)


def evaluate_frames(model: FrameDiffusionModel, data: Sequence[str | Path], horizon: int = 12, samples: int = 2,
                    steps: int = 3, seed: int = 0, windows: int = 2, batch_size: int = 16,
                    progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """PSNR and SSIM per rollout step against copy-last, and contact read from imagined frames.

    Args:
        model: a trained ``FrameDiffusionModel`` (``load(RUN, kind="frame")``).
        data: test datasets with ``rgb`` (and, for the contact read-out, ``state``,
            ``object_mask``, events: passive scenario datasets).
        horizon: H imagined frames per window.
        samples: S samples per window.
        steps: sampler steps per frame.
        seed: seed of the sampler noise and of predict-ocp-v0's cuts.
        windows: evenly spaced context windows per episode for PSNR/SSIM.
        batch_size: windows per model call (each with its samples).

    Returns:
        ``{"config", "windows", "psnr", "ssim", "copy_last": {"psnr", "ssim"}, "mean", "contact",
        "wall_s"}``: ``psnr`` and ``ssim`` are lists over the H steps; ``contact`` is None when no
        dataset holds passive scenario episodes with states, else accuracy of the read-out on
        imagined frames, on the true frames (ceiling) and on the last observed frame (copy-last).
    """
    if horizon < 1 or samples < 1 or steps < 1 or windows < 1 or batch_size < 1:
        raise ValueError(f"horizon, samples, steps, windows and batch_size must be >= 1, got {horizon}, {samples}, "
                         f"{steps}, {windows}, {batch_size}")
    t0 = time.perf_counter()
    k = model.config.history
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on any device
    episodes = [e for d in data for e in _episodes(Path(d), model)]
    spaced = []
    for e in episodes:
        last = len(e["frames"]) - 1 - horizon  # latest context end with H true frames after it
        if last >= k - 1:
            spaced += [_window(e, int(end), k, horizon) for end in np.unique(np.linspace(k - 1, last, windows).round())]
    if not spaced:
        raise ValueError(f"no episode of {[str(d) for d in data]} holds history {k} + horizon {horizon} frames")
    imagined = _imagine(model, spaced, samples, steps, horizon, generator, batch_size, progress)
    future = torch.from_numpy(np.stack([w["future"] for w in spaced]))  # (W, H, S, S, 3)
    held = torch.from_numpy(np.stack([w["context"][-1] for w in spaced]))[:, None].expand_as(future)
    mse = squared_error(imagined, future[:, None]).mean(dim=(0, 1))  # (H,)
    result = {
        "config": {"model_history": k, "data": [str(d) for d in data], "horizon": horizon, "samples": samples,
                   "steps": steps, "seed": seed, "windows_per_episode": windows},
        "windows": len(spaced), "episodes": len(episodes),
        "psnr": [psnr(float(m)) for m in mse],
        "ssim": ssim(imagined, future[:, None].expand_as(imagined)).mean(dim=(0, 1)).tolist(),
        "copy_last": {"psnr": [psnr(float(m)) for m in squared_error(held, future).mean(dim=0)],
                      "ssim": ssim(held, future).mean(dim=0).tolist()},
    }
    result["mean"] = {"psnr": float(np.mean(result["psnr"])), "ssim": float(np.mean(result["ssim"])),
                      "copy_last_psnr": float(np.mean(result["copy_last"]["psnr"])),
                      "copy_last_ssim": float(np.mean(result["copy_last"]["ssim"]))}
    result["contact"] = _contact(model, data, episodes, horizon, samples, steps, seed, generator, batch_size)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    return result


def _contact(model: FrameDiffusionModel, data: Sequence[str | Path], episodes: list[dict], horizon: int,
             samples: int, steps: int, seed: int, generator: torch.Generator, batch_size: int) -> dict | None:
    """The contact read-out at predict-ocp-v0's cuts (see the module docstring)."""
    from .ocp import cut_dataset

    by_path = {e["path"]: e for e in episodes if "palette" in e}
    k = model.config.history
    kept, excluded = [], {}
    for d in data:
        keys = read_meta(Path(d)).config.obs_keys
        if not {"state", "object_mask"} <= set(keys) or not any(e["dataset"] == str(Path(d)) for e in by_path.values()):
            continue  # not a passive scenario dataset with states: no cut to take
        for cut in cut_dataset(d, seed=seed):
            reason = cut.excluded
            if reason is None and cut.cut < k - 1:
                reason = "prefix_shorter_than_history"
            elif reason is None and cut.cut + horizon >= len(by_path[cut.path]["frames"]):
                reason = "episode_ends_within_horizon"
            if reason:
                excluded[reason] = excluded.get(reason, 0) + 1
            else:
                kept.append(cut)
    if not kept:
        return None if not excluded else {"episodes": 0, "excluded": excluded}
    chosen = [by_path[c.path] for c in kept]
    windows = [_window(e, c.cut, k, horizon) for e, c in zip(chosen, kept, strict=True)]
    truth = np.array([c.contact_frame is not None and c.contact_frame <= c.cut + horizon for c in kept])
    palette = _padded_palettes(chosen)
    pair = torch.from_numpy(np.stack([e["agent_patient"] for e in chosen]))  # (E, 2)
    imagined = _imagine(model, windows, samples, steps, horizon, generator, batch_size, None)  # (E, S, H, ...)
    e_count, s_count = imagined.shape[:2]
    flat = imagined.reshape(e_count, s_count * horizon, *imagined.shape[3:])  # samples stacked along time
    masks = colour_masks(flat, palette, pair).view(e_count, s_count, horizon, 2, *imagined.shape[3:5])
    touched = masks_touch(masks[:, :, :, 0], masks[:, :, :, 1]).any(dim=2)  # (E, S)
    p_contact = touched.float().mean(dim=1).numpy()
    future = torch.from_numpy(np.stack([w["future"] for w in windows]))
    true_read = contact_in_frames(future, palette, pair).numpy()
    held_read = contact_in_frames(torch.from_numpy(np.stack([w["context"][-1:] for w in windows])), palette,
                                  pair).numpy()
    predicted = p_contact >= 0.5
    return {"episodes": len(kept), "excluded": excluded, "truth_rate": float(truth.mean()),
            "accuracy": float((predicted == truth).mean()), "p_contact_mean": float(p_contact.mean()),
            "true_frames_accuracy": float((true_read == truth).mean()),
            "copy_last_accuracy": float((held_read == truth).mean()),
            "agreement_with_true_frames": float((predicted == true_read).mean())}


# ---------------------------------------------------------------------------- video
def compare_frames_video(model: FrameDiffusionModel, data: str | Path, episode: int, out: str | Path,
                         samples: int = 4, size: int = 160, steps: int = 3, seed: int = 0,
                         horizon: int | None = None) -> dict:
    """An mp4 of one episode: the true frames beside ``samples`` imagined rollouts.

    Context ends at predict-ocp-v0's cut where the dataset has one (passive scenarios with
    states), else at frame K - 1; the rollout runs ``horizon`` frames (default: to the episode's
    end). Until the context ends every panel shows the truth.
    """
    from foretell.envs.sim.render import write_video

    from .ocp_model import _label

    root = Path(data)
    episodes = _episodes(root, model)
    if not 0 <= episode < len(episodes):
        raise ValueError(f"--episode {episode} is outside {root}'s {len(episodes)} episodes")
    e, k = episodes[episode], model.config.history
    end = k - 1
    keys = read_meta(root).config.obs_keys
    if "palette" in e and {"state", "object_mask"} <= set(keys):
        from .ocp import cut_dataset

        cut = next(c for c in cut_dataset(root, seed=seed) if c.path == e["path"])
        end = max(cut.cut if cut.cut is not None else k - 1, k - 1)
    length = len(e["frames"]) - 1 - end if horizon is None else min(horizon, len(e["frames"]) - 1 - end)
    if length < 1:
        raise ValueError(f"episode {episode} has no frame after its context (frame {end})")
    window = _window(e, end, k, length)
    imagined = _imagine(model, [window], samples, steps, length, torch.Generator().manual_seed(seed), 1, None)[0]
    frames = []
    for t in range(end + 1 + length):
        observed = t <= end
        truth = e["frames"][t]
        panels = [_label(_scale(truth, size), ["truth", "observed" if observed else f"t={t}"], (255, 255, 255))]
        for s in range(samples):
            shown = truth if observed else imagined[s, t - end - 1].numpy()
            panels.append(_label(_scale(shown, size), [f"sample {s + 1}", "observed" if observed else "imagined"],
                                 (255, 255, 255) if observed else (255, 220, 120)))
        frames.append(np.concatenate(panels, axis=1))
    path = write_video(np.stack(frames), out, fps=int(round(model.config.fps)))
    return {"out": str(path), "episode": episode, "context_end": end, "imagined": length, "samples": samples,
            "frames": len(frames), "size": [int(frames[0].shape[0]), int(frames[0].shape[1])]}


def _scale(frame: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_NEAREST)


def markdown(result: dict) -> str:
    """The per-step table of ``evaluate_frames``' result."""
    lines = ["| step | PSNR model | PSNR copy-last | SSIM model | SSIM copy-last |", "|---|---|---|---|---|"]
    for h, (p, s, cp, cs) in enumerate(zip(result["psnr"], result["ssim"], result["copy_last"]["psnr"],
                                           result["copy_last"]["ssim"], strict=True)):
        lines.append(f"| {h + 1} | {p:.2f} | {cp:.2f} | {s:.4f} | {cs:.4f} |")
    return "\n".join(lines)
