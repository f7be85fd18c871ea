"""``FrameDiffusionModel``: a DIAMOND-style pixel-space diffusion world model.

Given the last K frames of a scene (and, for robot scenes, the actions), it samples the next
frame; ``rollout`` chains that autoregressively into H imagined frames, S samples at once.

- **Denoiser**: diffusers' ``UNet2DModel``. The K context frames are stacked with the noisy next
  frame as input channels (``3 (K + 1)`` in, 3 out), as in DIAMOND. Its residual blocks use
  adaptive group norm (``resnet_time_scale_shift="scale_shift"``: every block's GroupNorm gets a
  scale and shift from the embedding), and the embedding is the UNet's noise-level embedding plus
  ours, passed through its ``class_embed_type="identity"`` route: the context-noise level and the
  K actions that lead into the predicted frame (none for passive scenarios, the 4-vector of
  BlockStackLowLevel, the skill encoding of BlockStack; ``actions.py``).
- **Diffusion**: EDM (Karras et al. 2022) with diffusers' ``EDMEulerScheduler`` supplying both the
  training preconditioning (c_in, c_skip, c_out, c_noise) and the sampler (or
  ``EDMDPMSolverMultistepScheduler``), for 1-10 steps (3 by default, as DIAMOND); the sampling
  loop is written out in ``predict_next``.
- **What is diffused**: by default (``target="change"``) the change from the last context frame,
  normalised per colour channel with statistics of the training data (in the config), so a
  model that predicts "nothing moves" starts where the copy-last-frame baseline is and training
  spends its few CPU minutes on what moves; ``target="frame"`` diffuses the frame itself (DIAMOND).
- **Context noise** (GameNGen, against autoregressive drift): training adds Gaussian noise of a
  level drawn from U(0, ``context_noise_max``) to the context frames and tells the model the
  level, so imperfect (imagined) context frames are a condition it has seen; ``rollout`` may pass
  a level too (default 0).

Pixels are scaled to [-1, 1]; imagined frames are rounded to uint8 before they become context,
so an imagined context is stored exactly like a real one.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin, UNet2DModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from .actions import action_dim
from .edm import EDMSchedulers, register_stats

TARGETS = ("change", "frame")
CHANNELS = 3
NOISE_EMBED_SCALE = 1000.0
"""EDM's c_noise = ln(sigma) / 4 lies in about [-1.6, 0.8]; the UNet's sinusoidal embedding was made
for timesteps 0..1000 (frequencies 1e-4..1), so both noise levels are scaled by 1000 before it."""


def frames_to_tensor(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames ``(..., S, S, 3)`` -> float ``(..., 3, S, S)`` in [-1, 1]."""
    return frames.float().div(127.5).sub(1.0).movedim(-1, -3)


def _pixel_noise(shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """A standard normal tensor of ``shape`` on ``device``, every draw decided by the CPU
    ``generator``. On the CPU it is drawn from it directly. Elsewhere one seed is drawn from it
    and the tensor is drawn on the device: drawing tens of millions of numbers a step on
    the CPU and copying them over would starve a GPU (a batch of 256 64-px windows with K = 4
    holds 16 M noise values)."""
    if device.type == "cpu":
        return torch.randn(shape, generator=generator)
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    return torch.randn(shape, generator=torch.Generator(device).manual_seed(seed), device=device)


def tensor_to_frames(x: torch.Tensor) -> torch.Tensor:
    """Float ``(..., 3, S, S)`` in [-1, 1] -> uint8 frames ``(..., S, S, 3)`` (rounded, clipped)."""
    return x.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).movedim(-3, -1)


class FrameDiffusionModel(EDMSchedulers, ModelMixin, ConfigMixin):
    """Samples the next frame ``(B, S, S, 3)`` uint8 from K frames; ``rollout`` chains H of them.

    Args:
        history: context frames K.
        image_size: frame side S in pixels (from the data).
        action_kind: ``none`` (scenarios), ``vector`` (BlockStackLowLevel) or ``skill`` (BlockStack).
        target: ``change`` (diffuse the change from the last context frame) or ``frame``.
        block_out_channels, layers_per_block, norm_num_groups: UNet size (no attention: sized
            for a CPU; DIAMOND's is 4 levels of 64 channels).
        context_noise_max: largest context-noise level in training (pixel units, [-1, 1] scale).
        sigma_data, sigma_min, sigma_max, rho: EDM noise parameters; targets are normalised to
            unit variance, hence ``sigma_data = 1``; ``sigma_max`` is for sampling only.
        p_mean, p_std: training noise levels, ``ln sigma ~ N(p_mean, p_std^2)`` (DIAMOND's values).
        fps: frame rate of the training data.
        stats: ``{change,frame}_{mean,std}`` (3 per colour channel) and, for vector actions,
            ``action_{mean,std}``; None means identity (an untrained model).
    """

    @register_to_config
    def __init__(self, history: int = 4, image_size: int = 64, action_kind: str = "none", target: str = "change",
                 block_out_channels: tuple[int, ...] = (16, 32, 64, 64), layers_per_block: int = 1,
                 norm_num_groups: int = 8, context_noise_max: float = 0.2, sigma_data: float = 1.0,
                 sigma_min: float = 0.002, sigma_max: float = 20.0, rho: float = 7.0, p_mean: float = -0.4,
                 p_std: float = 1.2, fps: float = 25.0, stats: dict | None = None) -> None:
        super().__init__()
        if history < 1:
            raise ValueError(f"history must be >= 1, got history={history}")
        levels = len(block_out_channels)
        if image_size < 2 ** (levels - 1) or image_size % 2 ** (levels - 1):
            raise ValueError(f"image_size must be a multiple of {2 ** (levels - 1)} for {levels} UNet levels, "
                             f"got image_size={image_size}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")
        if not 0 <= context_noise_max < 1:
            raise ValueError(f"context_noise_max must be in [0, 1), got {context_noise_max}")
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}")
        a_dim = action_dim(action_kind)  # raises for an unknown kind
        vector_dim = a_dim if action_kind == "vector" else 0
        register_stats(self, stats, {"change": CHANNELS, "frame": CHANNELS, "action": vector_dim})
        channels = tuple(block_out_channels)
        embed_dim = 4 * channels[0]  # UNet2DModel's time-embedding width
        self.unet = UNet2DModel(
            sample_size=image_size, in_channels=CHANNELS * (history + 1), out_channels=CHANNELS,
            block_out_channels=channels, layers_per_block=layers_per_block, down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels, add_attention=False, norm_num_groups=norm_num_groups,
            resnet_time_scale_shift="scale_shift", class_embed_type="identity")
        self.context_noise_proj = Timesteps(channels[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.context_noise_in = TimestepEmbedding(channels[0], embed_dim)
        self.action_in = (nn.Sequential(nn.Linear(history * a_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
                          if a_dim else None)

    # ------------------------------------------------------------------ denoiser
    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                context_noise: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        """EDM's raw network F: c_in-scaled noisy target ``(B, 3, S, S)``, c_noise ``(B,)``, context
        frames ``(B, K, 3, S, S)`` in [-1, 1] (noised), their noise level ``(B,)`` and normalised
        actions ``(B, K, A)`` -> ``(B, 3, S, S)``."""
        b = sample.shape[0]
        embedding = self.context_noise_in(self.context_noise_proj(context_noise * NOISE_EMBED_SCALE).to(sample.dtype))
        if self.action_in is not None:
            embedding = embedding + self.action_in(actions.reshape(b, -1))  # (B, 4 C0)
        x = torch.cat([sample, context.reshape(b, -1, *context.shape[-2:])], dim=1)  # (B, 3 (K + 1), S, S)
        return self.unet(x, timestep * NOISE_EMBED_SCALE, class_labels=embedding).sample

    # ------------------------------------------------------------------ inputs and targets
    def _actions(self, actions: torch.Tensor | None) -> torch.Tensor | None:
        if self.config.action_kind == "vector":
            return (actions.float() - self._action_mean) / self._action_std
        return None if actions is None else actions.float()  # skills: the encoding is already scaled

    def _reference(self, context: torch.Tensor) -> torch.Tensor:
        """What the target is relative to: the last context frame, or nothing. ``(B, 3, S, S)``."""
        return context[:, -1] if self.config.target == "change" else torch.zeros_like(context[:, -1])

    def _normalise(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        mean, std = (self._change_mean, self._change_std) if self.config.target == "change" else \
            (self._frame_mean, self._frame_std)
        return (x - reference - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)

    def _denormalise(self, y: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        mean, std = (self._change_mean, self._change_std) if self.config.target == "change" else \
            (self._frame_mean, self._frame_std)
        return y * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1) + reference

    # ------------------------------------------------------------------ EDM
    def training_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator,
                      denoiser: nn.Module | None = None, property_dropout: float = 0.0) -> torch.Tensor:
        """EDM's weighted denoising loss of the next frame on one batch (``frame_data`` layout:
        ``frames (B, K + 1, S, S, 3)`` uint8, ``actions (B, K, A)``), with context noise. Every
        random draw comes from ``generator`` (CPU; on a GPU the pixel noise is drawn there from a
        seed taken from it, ``_pixel_noise``), so runs reproduce on the same kind of device;
        ``property_dropout`` is accepted for the training loop's sake and unused (frames carry
        no property input)."""
        cfg = self.config
        frames = frames_to_tensor(batch["frames"])  # (B, K + 1, 3, S, S)
        b, device = frames.shape[0], frames.device
        context, target = frames[:, :-1], frames[:, -1]
        y = self._normalise(target, self._reference(context))  # (B, 3, S, S)
        sigma = torch.exp(cfg.p_mean + cfg.p_std * torch.randn(b, generator=generator)).to(device)  # (B,)
        noise = _pixel_noise(y.shape, generator, device)
        context_sigma = (cfg.context_noise_max * torch.rand(b, generator=generator)).to(device)  # (B,)
        context_noise = _pixel_noise(context.shape, generator, device)
        noisy_context = context + context_sigma.view(b, 1, 1, 1, 1) * context_noise
        s = sigma.view(b, 1, 1, 1)
        noisy = y + s * noise
        scheduler = self._training_scheduler()
        out = (self if denoiser is None else denoiser)(
            scheduler.precondition_inputs(noisy, s), scheduler.precondition_noise(sigma), noisy_context,
            context_sigma, self._actions(batch.get("actions")))
        denoised = scheduler.precondition_outputs(noisy, out.float(), s)
        weight = (s ** 2 + cfg.sigma_data ** 2) / (s * cfg.sigma_data) ** 2  # EDM's lambda(sigma)
        return (weight * (denoised - y) ** 2).mean()

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def predict_next(self, context: torch.Tensor, actions: torch.Tensor | None = None, num_steps: int = 3,
                     generator: torch.Generator | None = None, sampler: str = "euler",
                     context_noise: float = 0.0) -> torch.Tensor:
        """One sampled next frame per context.

        Args:
            context: ``(B, K, S, S, 3)`` uint8 frames, oldest first.
            actions: ``(B, K, A)`` the actions of the context steps (the last leads into the
                predicted frame), or None for a passive model.
            num_steps: sampler steps (1-10 intended; DIAMOND uses 3).
            generator: the source of every random draw.
            sampler: ``euler`` (EDMEulerScheduler) or ``dpmsolver`` (EDMDPMSolverMultistepScheduler).
            context_noise: noise level added to the context (the model is told it).

        Returns:
            ``(B, S, S, 3)`` uint8.
        """
        device = self.device
        ctx = frames_to_tensor(context.to(device))  # (B, K, 3, S, S)
        b = ctx.shape[0]
        level = torch.full((b,), float(context_noise), device=device)
        if context_noise > 0:
            ctx = ctx + context_noise * randn_tensor(ctx.shape, generator=generator, device=device)
        acts = self._actions(None if actions is None else actions.to(device))
        reference = self._reference(frames_to_tensor(context.to(device)))
        scheduler = self.make_scheduler(sampler)
        scheduler.set_timesteps(num_steps)
        x = randn_tensor(reference.shape, generator=generator, device=device) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            out = self(scheduler.scale_model_input(x, t), t.to(device).expand(b), ctx, level, acts)
            x = scheduler.step(out, t, x, generator=generator).prev_sample
        return tensor_to_frames(self._denormalise(x, reference))

    @torch.no_grad()
    def rollout(self, context: torch.Tensor, horizon: int, actions: torch.Tensor | None = None,
                num_samples: int = 1, num_steps: int = 3, generator: torch.Generator | None = None,
                sampler: str = "euler", context_noise: float = 0.0) -> torch.Tensor:
        """S imagined futures of H frames each, every frame predicted from the K before it.

        Args:
            context: ``(B, K, S, S, 3)`` uint8 real frames.
            horizon: H imagined frames.
            actions: ``(B, K - 1 + H, A)``: action j leads from frame j to j + 1, frame 0 being
                the first context frame; None for a passive model.
            num_samples, num_steps, generator, sampler, context_noise: S; as ``predict_next``.

        Returns:
            ``(B, S, H, S, S, 3)`` uint8.
        """
        self._check_inputs(context, horizon, actions, num_samples, num_steps)
        k, s = self.config.history, num_samples
        window = context.repeat_interleave(s, dim=0)  # (B S, K, S, S, 3)
        acts = None if actions is None else actions.repeat_interleave(s, dim=0)  # (B S, K - 1 + H, A)
        imagined = []
        for h in range(horizon):
            step_actions = None if acts is None else acts[:, h:h + k]  # (B S, K, A)
            frame = self.predict_next(window, step_actions, num_steps, generator, sampler, context_noise)
            imagined.append(frame.cpu())
            window = torch.cat([window[:, 1:], frame[:, None].to(window.device)], dim=1)
        out = torch.stack(imagined, dim=1)  # (B S, H, S, S, 3)
        return out.view(context.shape[0], s, horizon, *out.shape[2:])

    def _check_inputs(self, context, horizon: int, actions, num_samples: int, num_steps: int) -> None:
        cfg = self.config
        size = cfg.image_size
        if context.ndim != 5 or tuple(context.shape[1:]) != (cfg.history, size, size, CHANNELS):
            raise ValueError(f"context must be (B, K={cfg.history}, {size}, {size}, 3) uint8 frames, "
                             f"got {tuple(context.shape)}")
        if context.dtype != torch.uint8:
            raise ValueError(f"context must be uint8 frames, got {context.dtype}")
        if horizon < 1 or num_samples < 1 or num_steps < 1:
            raise ValueError(f"horizon, num_samples and num_steps must be >= 1, got {horizon}, {num_samples}, "
                             f"{num_steps}")
        a = action_dim(cfg.action_kind)
        if a == 0 and actions is not None:
            raise ValueError("this model is for passive scenes (action_kind 'none'); pass actions=None")
        expected = (context.shape[0], cfg.history - 1 + horizon, a)
        if a and (actions is None or tuple(actions.shape) != expected):
            got = None if actions is None else tuple(actions.shape)
            raise ValueError(f"action_kind {cfg.action_kind!r} needs actions (B, K - 1 + H, A) = {expected}, got {got}")
