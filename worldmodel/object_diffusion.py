"""``ObjectDiffusionModel``: an EDM diffusion model over object tokens x future time.

Given K past states of every object, per-object properties where known and the actions that
lead into the future, it samples S futures of H steps for all objects at once (DWM's point:
diffusing whole multi-step futures drifts less than chaining one-step predictions).

Denoiser: a transformer over tokens (time, object), with the K history steps as clean prefix
tokens and the H future steps as noisy tokens. Each block attends across objects at one time
step (a key-padding mask hides absent objects), then across time for one object, then an MLP;
the noise level enters every block through adaLN-Zero (DiT). Factorised rather than joint
attention: it costs O(T N^2 + N T^2) instead of O((T N)^2), it separates "who interacts with
whom" from "how one trajectory evolves", and the padding mask lives on the object axis only, so
a padded object is never a key for a real one: it cannot change their predictions. Objects carry
no index embedding (tokens are told apart by their state and properties), so the model is
equivariant to object order and a model trained on 2-4 objects runs on 6.

Targets are the future relative to the last observed state (``geometry``), normalised with
per-step, per-feature statistics of the training data that live in the config. Training uses
EDM's preconditioning and loss weighting (Karras et al. 2022) through diffusers' EDM scheduler
functions, so training and sampling share one definition; sampling uses diffusers'
``EDMEulerScheduler`` or ``EDMDPMSolverMultistepScheduler`` for 1-10 steps (DIAMOND's finding:
few-step EDM samplers hold where many-step DDPM rollouts drift).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from .actions import (
    HALF_EXTENT_COLUMNS,
    SKILL_NUMBERS,
    SKILL_OBJECT,
    SKILL_ONEHOT,
    SKILL_TARGET,
    action_dim,
    commanded_displacement,
)
from .edm import EDMSchedulers, register_stats
from .geometry import (
    ANCHOR_DIM,
    FEATURE_DIM,
    STATE_DIM,
    anchor_features,
    constant_velocity_displacement,
    relative_features,
    states_from_features,
)

PRIOR_SCALE = 0.1  # m: the commanded displacement enters the network in tenths of a metre


def stat_sizes(history: int, horizon: int, property_dim: int, action_kind: str) -> dict[str, int]:
    """Length of each normalisation statistic (mean and std alike), by name."""
    return {"history": history * FEATURE_DIM, "anchor": ANCHOR_DIM, "target": horizon * FEATURE_DIM,
            "property": property_dim, "action": action_dim(action_kind)}


class _Attention(nn.Module):
    """Multi-head self-attention over the second-to-last axis; ``keep`` masks keys (``(b, L)``),
    or ``bias`` ``(b, heads, L, L)`` is added to the logits (``-inf``: never attend)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        b, length, dim = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        mask = bias if bias is not None else None if keep is None else keep[:, None, None, :]  # True = attend
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (b, heads, length, dim/heads)
        return self.proj(out.transpose(1, 2).reshape(b, length, dim))


class _Block(nn.Module):
    """Attention across objects, attention across time, MLP; each modulated by the noise level."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim, elementwise_affine=False) for _ in range(3))
        self.object_attention = _Attention(dim, heads)
        self.time_attention = _Attention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.modulation = nn.Linear(dim, 9 * dim)
        nn.init.zeros_(self.modulation.weight)  # adaLN-Zero: every block starts as the identity
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, noise: torch.Tensor, keep: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        """x ``(B, T, N, D)``, noise embedding ``(B, D)``, keep ``(B, N)`` bool, and optionally a
        pairwise attention bias ``(B, heads, N, N)`` that replaces the key mask -> ``(B, T, N, D)``."""
        b, t, n, d = x.shape
        mods = self.modulation(F.silu(noise))[:, None, None, :].chunk(9, dim=-1)  # 9 x (B, 1, 1, D)

        h = self.norms[0](x) * (1 + mods[1]) + mods[0]
        if bias is None:
            keep_bt = keep[:, None, :].expand(b, t, n).reshape(b * t, n)  # (B*T, N)
            h = self.object_attention(h.reshape(b * t, n, d), keep_bt).view(b, t, n, d)
        else:
            bias_bt = bias[:, None].expand(b, t, *bias.shape[1:]).reshape(b * t, *bias.shape[1:])  # (B*T, heads, N, N)
            h = self.object_attention(h.reshape(b * t, n, d), bias=bias_bt).view(b, t, n, d)
        x = x + mods[2] * h

        h = self.norms[1](x) * (1 + mods[4]) + mods[3]
        h = h.transpose(1, 2).reshape(b * n, t, d)  # (B*N, T, D): one sequence per object
        h = self.time_attention(h).view(b, n, t, d).transpose(1, 2)
        x = x + mods[5] * h

        h = self.norms[2](x) * (1 + mods[7]) + mods[6]
        return x + mods[8] * self.mlp(h)


class ObjectDiffusionModel(EDMSchedulers, ModelMixin, ConfigMixin):
    """Samples S futures ``(B, S, H, N, 13)`` of every object from K observed states.

    Args:
        history: observed steps K the model conditions on.
        horizon: future steps H it predicts.
        property_dim: per-object property width P (foretell datasets: 14).
        action_kind: ``none`` (scenarios), ``vector`` (BlockStackLowLevel) or ``skill`` (BlockStack).
        hidden_dim, num_layers, num_heads, mlp_ratio: transformer size.
        sigma_data, sigma_min, sigma_max, rho: EDM noise parameters (data are normalised to unit
            variance, hence ``sigma_data = 1``). ``sigma_max`` only matters for sampling: 20, not
            EDM's 80, because a 1-4 step sampler's first step then starts from a noise level the
            training distribution covers (measured on Collide: docs/worldmodel.md).
        p_mean, p_std: training noise levels, ``ln sigma ~ N(p_mean, p_std^2)`` (DIAMOND's values).
        fps: frame rate of the training data (for read-outs and baselines).
        skill_prior: (skill models) predict each future position as a residual from where the
            skills command the objects to go (``actions.commanded_displacement``), which is also
            an input. The command carries the geometry exactly (a target's top, the object's
            own height), so the network learns only what physics adds; sizes and stacks outside
            the training range stop being extrapolation. Off by default (``foretell train world
            --skill-prior`` turns it on): it predicts held-out skill outcomes better but plans
            worse, because it calls more failed placements successes (docs/results.md).
        velocity_prior: (per-frame data: scenarios, low-level control) predict each future
            position as a residual from where the last observed velocity carries it
            (``geometry.constant_velocity_displacement``), which is also an input: free flight
            and rolling are the prior, the network learns gravity, contact and friction on top.
            ``foretell train world --velocity-prior``; off by default.
        clamp_properties: clamp the properties the network reads to the range seen in training
            (``stats["property_min"]``, ``["property_max"]``; models trained before 2026-11-30 have
            none and are not clamped): a held-out scene's heavier or grippier objects are read
            as the heaviest or grippiest the model knows rather than extrapolated. The commanded
            placement (``skill_prior``) still uses the true sizes. On by default.
        relational: objects attend to each other through their relative positions, and only to
            their neighbours (the learned-simulator recipe of Sanchez-Gonzalez et al. 2020): a
            learned per-head bias of each pair's displacement (now, and after the commanded or
            constant-velocity move) enters the object attention; a pair further apart than
            ``neighbour_gap`` (conservative boxes, now and after the move) does not attend at all;
            and the absolute height an object token reads is clipped at ``height_clip``. So a
            scene with more objects than training held (space B's 5-6 against A's 2-4) shows each
            object the few it touches, and a tower taller than any in training shows its top
            the same neighbours as a short one. Off by default (``--relational``).
        neighbour_gap: (relational) metres between two objects' boxes within which they attend to
            each other (1.5 cm: the probe scene's 3 cm footprint gaps keep its objects apart, two
            cubes side by side 1 cm apart see each other).
        height_clip: (relational) metres; the absolute height an object token reads is at most this.
        stats: normalisation statistics, ``{name}_mean`` and ``{name}_std`` lists for ``name`` in
            ``stat_sizes`` (history, anchor, target, property, action); None means identity (untrained).
    """

    @register_to_config
    def __init__(self, history: int = 4, horizon: int = 12, property_dim: int = 14, action_kind: str = "none",
                 hidden_dim: int = 128, num_layers: int = 4, num_heads: int = 4, mlp_ratio: float = 4.0,
                 sigma_data: float = 1.0, sigma_min: float = 0.002, sigma_max: float = 20.0, rho: float = 7.0,
                 p_mean: float = -0.4, p_std: float = 1.2, fps: float = 25.0, skill_prior: bool = False,
                 stats: dict | None = None, velocity_prior: bool = False, clamp_properties: bool = True,
                 relational: bool = False, neighbour_gap: float = 0.015, height_clip: float = 0.12) -> None:
        super().__init__()
        for name, value in (("history", history), ("horizon", horizon), ("property_dim", property_dim),
                            ("num_layers", num_layers), ("num_heads", num_heads)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {name}={value}")
        if hidden_dim % num_heads or hidden_dim % 2:
            raise ValueError(f"hidden_dim must be even and divisible by num_heads, got {hidden_dim} and {num_heads}")
        if relational and not (neighbour_gap > 0 and height_clip > 0):
            raise ValueError(f"relational needs neighbour_gap > 0 and height_clip > 0, got {neighbour_gap} and "
                             f"{height_clip}")
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}")
        a_dim = action_dim(action_kind)  # raises for an unknown kind
        if skill_prior and action_kind != "skill":
            raise ValueError(f"skill_prior needs action_kind 'skill', got {action_kind!r}")
        if velocity_prior and action_kind == "skill":
            raise ValueError("velocity_prior applies to per-frame data (action kinds 'none', 'vector'); skill "
                             "frames are settled scenes seconds apart: use skill_prior")
        stats = dict(stats or {})
        ranges = [stats.pop(key, None) for key in ("property_min", "property_max")]
        register_stats(self, stats, stat_sizes(history, horizon, property_dim, action_kind))
        if any(r is not None for r in ranges) and not all(r is not None and len(r) == property_dim for r in ranges):
            raise ValueError(f"statistics property_min and property_max need {property_dim} values each")
        low, high = ((torch.tensor(r, dtype=torch.float32) if r is not None else None) for r in ranges)
        self.register_buffer("_property_low", low, persistent=False)
        self.register_buffer("_property_high", high, persistent=False)
        d = hidden_dim
        self.history_in = nn.Linear(FEATURE_DIM, d)
        self.future_in = nn.Linear(FEATURE_DIM, d)
        self.object_in = nn.Sequential(nn.Linear(ANCHOR_DIM + property_dim + 1, d), nn.SiLU(), nn.Linear(d, d))
        self.time_embedding = nn.Parameter(torch.randn(history + horizon, d) * 0.02)  # (K + H, D)
        self.noise_in = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        global_dim = a_dim - 2 * (SKILL_OBJECT.stop - SKILL_OBJECT.start) if action_kind == "skill" else a_dim
        self.action_in = nn.Linear(global_dim, d) if a_dim else None
        self.role_in = nn.Linear(2, d) if action_kind == "skill" else None  # is the skill's object / target
        # the commanded (skill_prior) or constant-velocity (velocity_prior) displacement
        self.prior_in = nn.Linear(3, d) if skill_prior or velocity_prior else None
        self.blocks = nn.ModuleList(_Block(d, num_heads, mlp_ratio) for _ in range(num_layers))
        # (relational) each pair's displacement now and after the move -> a bias per layer and head
        self.edge_in = nn.Sequential(nn.Linear(6, d), nn.SiLU(), nn.Linear(d, num_layers * num_heads)) \
            if relational else None
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_modulation = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, FEATURE_DIM)
        for layer in (self.out_modulation, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    # ------------------------------------------------------------------ inputs
    def _noise_embedding(self, c_noise: torch.Tensor) -> torch.Tensor:
        """EDM's c_noise = ln(sigma) / 4, ``(B,)`` -> ``(B, D)`` through sinusoids."""
        half = self.config.hidden_dim // 2
        freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, device=c_noise.device))  # (D/2,)
        angles = c_noise.float()[:, None] * freqs[None, :]  # (B, D/2)
        return self.noise_in(torch.cat([angles.sin(), angles.cos()], dim=-1))

    def condition(self, history: torch.Tensor, properties: torch.Tensor | None, mask: torch.Tensor,
                  actions: torch.Tensor | None, properties_known: torch.Tensor | None = None) -> dict:
        """Normalised model inputs from world-frame history ``(B, K, N, 13)``, properties
        ``(B, N, P)`` or None, mask ``(B, N)``, actions ``(B, H, A)`` or None, and which scenes'
        properties are known ``(B,)`` (default: all, when properties are given)."""
        cfg = self.config
        b, k, n, _ = history.shape
        history = history.float()
        last = history[:, -1]  # (B, N, 13)
        hist = relative_features(history, last)  # (B, K, N, 15)
        hist = (hist - self._history_mean.view(k, 1, FEATURE_DIM)) / self._history_std.view(k, 1, FEATURE_DIM)
        anchor = anchor_features(last)  # (B, N, 9)
        if cfg.relational:  # heights above the clip are told apart by the pairwise displacements
            anchor = torch.cat([anchor[..., :2], anchor[..., 2:3].clamp(max=cfg.height_clip), anchor[..., 3:]], -1)
        anchor = (anchor - self._anchor_mean) / self._anchor_std
        if properties is None:
            props = torch.zeros(b, n, cfg.property_dim, device=history.device)
            known = torch.zeros(b, device=history.device)
        else:
            props = properties.float()
            if cfg.clamp_properties and self._property_low is not None:
                props = torch.maximum(torch.minimum(props, self._property_high), self._property_low)
            props = (props - self._property_mean) / self._property_std  # (B, N, P)
            known = (torch.ones(b, device=history.device) if properties_known is None
                     else properties_known.float())
        props = props * known[:, None, None]  # unknown properties are zeros plus a flag
        obj = torch.cat([anchor, props, known[:, None, None].expand(b, n, 1)], dim=-1)  # (B, N, 9 + P + 1)
        if cfg.action_kind == "vector":
            actions = (actions.float() - self._action_mean) / self._action_std  # (B, H, 4)
        elif actions is not None:
            actions = actions.float()  # (B, H, SKILL_DIM): the encoding is already scaled
        # true sizes where known, the training mean's where not (the command and the neighbours use them)
        sizes = self._property_mean.expand(b, n, -1) if properties is None else torch.where(
            known[:, None, None] > 0.5, properties.float(), self._property_mean)
        prior = None
        if cfg.skill_prior:
            prior = commanded_displacement(last, sizes, actions)  # (B, H, N, 3)
        elif cfg.velocity_prior:
            prior = constant_velocity_displacement(last, cfg.horizon, cfg.fps)  # (B, H, N, 3)
        edges = neighbours = None
        if cfg.relational:
            edges, neighbours = self._relations(last, sizes, mask.bool(), prior)
        return {"history": hist, "objects": obj, "mask": mask.bool(), "actions": actions, "last": last,
                "prior": prior, "edges": edges, "neighbours": neighbours}

    def _relations(self, last: torch.Tensor, sizes: torch.Tensor, mask: torch.Tensor,
                   prior: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(relational) Pairwise displacements ``(B, N, N, 6)`` (j minus i, now and after the
        move, in tenths of a metre) and who attends to whom ``(B, N, N)`` bool: pairs whose
        bounding boxes come within ``neighbour_gap`` now or after the move (any combination of
        the two), every object itself, never an absent key. The boxes are conservative and
        upright: horizontal half-width the footprint's half-diagonal, vertical half-height the
        half-diagonal of the whole body (a tipped object still reaches as high)."""
        start = last[..., :3]  # (B, N, 3)
        end = start if prior is None else start + prior[:, -1]
        if sizes.shape[-1] >= HALF_EXTENT_COLUMNS.stop:
            half = sizes[..., HALF_EXTENT_COLUMNS].float()  # (B, N, 3)
            reach = torch.stack([half[..., :2].norm(dim=-1), half.norm(dim=-1)], dim=-1)  # (B, N, 2)
        else:
            reach = torch.zeros(*start.shape[:2], 2, device=start.device)
        edges = torch.cat([start[:, None] - start[:, :, None], end[:, None] - end[:, :, None]], -1) / PRIOR_SCALE
        points = torch.stack([start, end], dim=1)  # (B, 2, N, 3)
        delta = (points[:, :, None, :, None] - points[:, None, :, None, :]).abs()  # (B, 2, 2, N, N, 3)
        apart = torch.stack([delta[..., :2].norm(dim=-1), delta[..., 2]], dim=-1)  # (B, 2, 2, N, N, 2)
        reach_pair = (reach[:, :, None] + reach[:, None, :])[:, None, None]  # (B, 1, 1, N, N, 2)
        gap = (apart - reach_pair).amax(dim=-1).amin(dim=(1, 2))  # (B, N, N)
        eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
        return edges, ((gap < self.config.neighbour_gap) & mask[:, None, :]) | eye

    def normalise_future(self, future: torch.Tensor, last: torch.Tensor,
                         prior: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised targets ``(B, H, N, 15)`` of world-frame futures ``(B, H, N, 13)``; with a
        commanded displacement ``prior`` ``(B, H, N, 3)``, displacements are taken from it."""
        h = self.config.horizon
        feats = relative_features(future.float(), last)
        if prior is not None:
            feats = torch.cat([feats[..., :3] - prior, feats[..., 3:]], dim=-1)
        return (feats - self._target_mean.view(h, 1, FEATURE_DIM)) / self._target_std.view(h, 1, FEATURE_DIM)

    def denormalise_future(self, x: torch.Tensor, last: torch.Tensor,
                           prior: torch.Tensor | None = None) -> torch.Tensor:
        """World-frame states ``(..., H, N, 13)`` of normalised predictions ``(..., H, N, 15)``;
        ``last`` ``(..., N, 13)``; ``prior`` as in ``normalise_future``."""
        h = self.config.horizon
        feats = x * self._target_std.view(h, 1, FEATURE_DIM) + self._target_mean.view(h, 1, FEATURE_DIM)
        if prior is not None:
            feats = torch.cat([feats[..., :3] + prior, feats[..., 3:]], dim=-1)
        return states_from_features(feats, last)

    # ------------------------------------------------------------------ denoiser
    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, history: torch.Tensor, objects: torch.Tensor,
                mask: torch.Tensor, actions: torch.Tensor | None = None, prior: torch.Tensor | None = None,
                edges: torch.Tensor | None = None, neighbours: torch.Tensor | None = None,
                **_: object) -> torch.Tensor:
        """EDM's raw network F: c_in-scaled noisy futures ``(B, H, N, 15)``, c_noise ``(B,)``,
        normalised history ``(B, K, N, 15)``, object features ``(B, N, 9 + P + 1)``, mask
        ``(B, N)``, actions ``(B, H, A)`` and the commanded displacement ``(B, H, N, 3)`` (with
        ``skill_prior``), and (``relational``) the pairwise displacements ``(B, N, N, 6)`` and
        neighbours ``(B, N, N)`` -> ``(B, H, N, 15)``."""
        k, h = self.config.history, self.config.horizon
        obj = self.object_in(objects)[:, None]  # (B, 1, N, D)
        future = self.future_in(sample)  # (B, H, N, D)
        if self.action_in is not None:
            future = future + self._action_embedding(actions, sample.shape[2])
        if self.prior_in is not None:
            future = future + self.prior_in(prior / PRIOR_SCALE)
        tokens = torch.cat([self.history_in(history), future], dim=1)  # (B, K + H, N, D)
        tokens = tokens + obj + self.time_embedding[None, :, None, :]
        noise = self._noise_embedding(timestep)  # (B, D)
        biases = [None] * len(self.blocks)
        if self.edge_in is not None:
            b, n = mask.shape
            bias = self.edge_in(edges).view(b, n, n, len(self.blocks), -1).permute(3, 0, 4, 1, 2)  # (L, B, heads, N, N)
            biases = bias.masked_fill(~neighbours[None, :, None], float("-inf")).unbind(0)
        for block, bias in zip(self.blocks, biases, strict=True):
            tokens = block(tokens, noise, mask, bias)
        shift, scale = self.out_modulation(F.silu(noise))[:, None, None, :].chunk(2, dim=-1)
        out = self.out_norm(tokens[:, k:k + h]) * (1 + scale) + shift  # (B, H, N, D)
        return self.out(out)  # (B, H, N, 15)

    def _action_embedding(self, actions: torch.Tensor, n: int) -> torch.Tensor:
        """Actions ``(B, H, A)`` -> ``(B, H, N or 1, D)``: a skill's object and target become
        per-object role flags, everything else one vector per step."""
        if self.config.action_kind != "skill":
            return self.action_in(actions)[:, :, None, :]  # (B, H, 1, D)
        glob = torch.cat([actions[..., SKILL_ONEHOT], actions[..., SKILL_NUMBERS]], dim=-1)  # (B, H, 10)
        roles = torch.stack([actions[..., SKILL_OBJECT], actions[..., SKILL_TARGET]], dim=-1)  # (B, H, 6, 2)
        if n > roles.shape[2]:
            roles = F.pad(roles, (0, 0, 0, n - roles.shape[2]))
        return self.action_in(glob)[:, :, None, :] + self.role_in(roles[:, :, :n])  # (B, H, N, D)

    # ------------------------------------------------------------------ EDM
    def training_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator,
                      denoiser: nn.Module | None = None, property_dropout: float = 0.0) -> torch.Tensor:
        """EDM's weighted denoising loss on one batch (``foretell.worldmodel.data`` layout), masked
        to real objects. ``denoiser`` is what runs F (a DDP or compiled wrapper of this model);
        every random draw comes from ``generator`` (on the CPU, so runs reproduce on any device)."""
        cfg = self.config
        b = batch["history"].shape[0]
        known = batch["properties_known"].float()
        if property_dropout > 0:  # teach the "properties unknown" path
            known = known * (torch.rand(b, generator=generator) >= property_dropout).float().to(known.device)
        cond = self.condition(batch["history"], batch["properties"], batch["mask"], batch.get("actions"), known)
        target = self.normalise_future(batch["future"], cond["last"], cond["prior"])  # (B, H, N, 15)
        sigma = torch.exp(cfg.p_mean + cfg.p_std * torch.randn(b, generator=generator)).to(target.device)  # (B,)
        noise = torch.randn(target.shape, generator=generator).to(target.device)
        s = sigma[:, None, None, None]
        noisy = target + s * noise
        scheduler = self._training_scheduler()
        out = (self if denoiser is None else denoiser)(scheduler.precondition_inputs(noisy, s), scheduler.precondition_noise(sigma), **cond)
        denoised = scheduler.precondition_outputs(noisy, out.float(), s)
        weight = (s ** 2 + cfg.sigma_data ** 2) / (s * cfg.sigma_data) ** 2  # EDM's lambda(sigma)
        keep = cond["mask"][:, None, :, None].float()  # (B, 1, N, 1)
        error = weight * (denoised - target) ** 2 * keep
        return error.sum() / (keep.sum() * cfg.horizon * FEATURE_DIM)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, history: torch.Tensor, properties: torch.Tensor | None, mask: torch.Tensor,
               actions: torch.Tensor | None = None, num_samples: int = 1, num_steps: int = 4,
               generator: torch.Generator | None = None, sampler: str = "euler") -> torch.Tensor:
        """S samples of the next H states of every object, in world coordinates.

        Args:
            history: ``(B, K, N, 13)`` observed states (position, quaternion wxyz, linear and
                angular velocity), padded rows anywhere ``mask`` is False.
            properties: ``(B, N, P)`` per-object properties, or None when unknown.
            mask: ``(B, N)`` which rows are objects (at least one per scene).
            actions: ``(B, H, A)`` the actions leading into the H future steps (``actions``
                module), or None for a model of passive scenes.
            num_samples: S.
            num_steps: sampler steps (1-10 is the intended range).
            generator: the source of every random draw.
            sampler: ``euler`` (EDMEulerScheduler) or ``dpmsolver`` (EDMDPMSolverMultistepScheduler).

        Returns:
            ``(B, S, H, N, 13)``; rows of absent objects are zero.
        """
        self._check_inputs(history, properties, mask, actions, num_samples, num_steps)
        b, _, n, _ = history.shape
        s, h = num_samples, self.config.horizon
        device = self.device
        cond = self.condition(history.to(device), None if properties is None else properties.to(device),
                              mask.to(device), None if actions is None else actions.to(device))
        cond = {key: None if v is None else v.repeat_interleave(s, dim=0) for key, v in cond.items()}  # B -> B*S
        scheduler = self.make_scheduler(sampler)
        scheduler.set_timesteps(num_steps)
        x = randn_tensor((b * s, h, n, FEATURE_DIM), generator=generator, device=device)  # (B*S, H, N, 15)
        x = x * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(x, t)
            out = self(model_input, t.to(device).expand(b * s), **cond)
            x = scheduler.step(out, t, x, generator=generator).prev_sample
        states = self.denormalise_future(x, cond["last"], cond["prior"])  # (B*S, H, N, 13)
        states = states * cond["mask"][:, None, :, None]
        return states.view(b, s, h, n, STATE_DIM)

    def _check_inputs(self, history, properties, mask, actions, num_samples: int, num_steps: int) -> None:
        cfg = self.config
        if history.ndim != 4 or history.shape[1] != cfg.history or history.shape[3] != STATE_DIM:
            raise ValueError(f"history must be (B, K={cfg.history}, N, {STATE_DIM}), got {tuple(history.shape)}")
        b, _, n, _ = history.shape
        if mask.shape != (b, n):
            raise ValueError(f"mask must be (B, N) = ({b}, {n}), got {tuple(mask.shape)}")
        if not bool(mask.bool().any(dim=1).all()):
            raise ValueError("every scene needs at least one object (a row of mask is all False)")
        if properties is not None and properties.shape != (b, n, cfg.property_dim):
            raise ValueError(f"properties must be (B, N, P) = ({b}, {n}, {cfg.property_dim}) or None, "
                             f"got {tuple(properties.shape)}")
        a = action_dim(cfg.action_kind)
        if a == 0 and actions is not None:
            raise ValueError("this model is for passive scenes (action_kind 'none'); pass actions=None")
        if a and (actions is None or actions.shape != (b, cfg.horizon, a)):
            got = None if actions is None else tuple(actions.shape)
            raise ValueError(f"action_kind {cfg.action_kind!r} needs actions (B, H, A) = ({b}, {cfg.horizon}, {a}), "
                             f"got {got}")
        if num_samples < 1 or num_steps < 1:
            raise ValueError(f"num_samples and num_steps must be >= 1, got {num_samples} and {num_steps}")
