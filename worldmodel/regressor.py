"""``ObjectRegressorModel``: the deterministic baseline of the object world model.

The same transformer trunk as ``ObjectDiffusionModel`` (the same blocks, sizes, inputs,
normalisation statistics and relative-state targets) trained with a plain mean-squared error
to predict the H future states directly, in one forward pass, instead of denoising them. It is
what predict-ocp-v0 compares the diffusion model with: a model of the same size trained on the
same windows with the same ``TrainConfig`` budget (``foretell train world --kind regressor``),
so any difference comes from predicting a distribution of futures rather than their mean.

It is a thin subclass: the config (constructor arguments) is the diffusion model's, so a run
is trained, checkpointed and resumed by the same code. The noise input is fixed: the future
tokens start from zeros and the noise embedding from ``c_noise = 0``, so adaLN modulation
becomes a learned constant. ``sample`` returns S identical copies of the one prediction, so
every read-out written for samples runs on it unchanged (its ``p(contact)`` is 0 or 1).
The EDM parameters in its config (``sigma_*``, ``p_*``) are unused.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .checkpoint import MODEL_CONFIG, model_folder
from .geometry import FEATURE_DIM, STATE_DIM
from .object_diffusion import ObjectDiffusionModel


class ObjectRegressorModel(ObjectDiffusionModel):
    """Predicts the next H states ``(B, 1, H, N, 13)`` of every object from K observed states,
    deterministically (arguments: ``ObjectDiffusionModel``'s)."""

    deterministic = True
    """Every sample is the same prediction: callers may ask for one and broadcast."""

    def _predict(self, cond: dict) -> torch.Tensor:
        """Normalised prediction ``(B, H, N, 15)`` from ``condition``'s output."""
        b, n = cond["mask"].shape
        zeros = torch.zeros(b, self.config.horizon, n, FEATURE_DIM, device=cond["last"].device)  # (B, H, N, 15)
        return self(zeros, torch.zeros(b, device=zeros.device), **cond)

    def training_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator,
                      denoiser: nn.Module | None = None, property_dropout: float = 0.0) -> torch.Tensor:
        """Mean squared error of the normalised prediction over real objects (the diffusion
        model's loss without noise or weighting); ``generator`` only hides properties."""
        b = batch["history"].shape[0]
        known = batch["properties_known"].float()
        if property_dropout > 0:  # the same "properties unknown" path as the diffusion model
            known = known * (torch.rand(b, generator=generator) >= property_dropout).float().to(known.device)
        cond = self.condition(batch["history"], batch["properties"], batch["mask"], batch.get("actions"), known)
        target = self.normalise_future(batch["future"], cond["last"], cond["prior"])  # (B, H, N, 15)
        zeros = torch.zeros_like(target)
        out = (self if denoiser is None else denoiser)(zeros, torch.zeros(b, device=target.device), **cond)
        keep = cond["mask"][:, None, :, None].float()  # (B, 1, N, 1)
        error = (out.float() - target) ** 2 * keep
        return error.sum() / (keep.sum() * self.config.horizon * FEATURE_DIM)

    @torch.no_grad()
    def sample(self, history: torch.Tensor, properties: torch.Tensor | None, mask: torch.Tensor,
               actions: torch.Tensor | None = None, num_samples: int = 1, num_steps: int = 1,
               generator: torch.Generator | None = None, sampler: str = "euler") -> torch.Tensor:
        """The prediction, repeated: ``(B, S, H, N, 13)`` in world coordinates (rows of absent
        objects zero). Same arguments as ``ObjectDiffusionModel.sample``; ``num_steps``,
        ``generator`` and ``sampler`` are accepted and ignored (nothing is random)."""
        self._check_inputs(history, properties, mask, actions, num_samples, max(num_steps, 1))
        device = self.device
        cond = self.condition(history.to(device), None if properties is None else properties.to(device),
                              mask.to(device), None if actions is None else actions.to(device))
        states = self.denormalise_future(self._predict(cond), cond["last"], cond["prior"])  # (B, H, N, 13)
        states = states * cond["mask"][:, None, :, None]
        b, h, n, _ = states.shape
        return states[:, None].expand(b, num_samples, h, n, STATE_DIM)


MODEL_CLASSES = {"object": ObjectDiffusionModel, "regressor": ObjectRegressorModel}
"""World-model kind (``TrainConfig.kind``) -> the model class a run of that kind trains."""


def load_model(run: str | Path, weights: str = "ema", device: str | torch.device = "cpu") -> ObjectDiffusionModel:
    """A trained object world model *or* regressor from ``run`` (a run, a checkpoint or a model
    folder: ``checkpoint.load``'s rules), in eval mode on ``device``.

    Raises ``ValueError`` naming the folder when it holds another kind of model.
    """
    folder = model_folder(run, weights)
    try:
        name = json.loads((folder / MODEL_CONFIG).read_text()).get("_class_name")
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder / MODEL_CONFIG} is missing or not JSON: cannot load a model from {folder}") from exc
    by_name = {cls.__name__: cls for cls in MODEL_CLASSES.values()}
    if name not in by_name:
        raise ValueError(f"{folder} holds a {name or 'unknown'} model, not an object world model or regressor "
                         f"({sorted(by_name)})")
    return by_name[name].from_pretrained(folder).to(device).eval()
