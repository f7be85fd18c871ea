"""An ensemble of object world models: each member imagines its own futures, pooled as one.

Models trained on the same data with different seeds agree where the data speak and disagree where
they extrapolate (a ball on a taller tower than any in training). Pooling their sampled futures is
the trajectory-sampling ensemble of PETS (Chua et al., 2018): every sampled future is one member's
whole rollout (``imagine`` never mixes members within a rollout), and a read-out over the pooled
samples (``p_goal_stable``) is the mean of the members' read-outs, so a plan that any member
doubts scores lower. ``imagine(ensemble, ..., num_samples=S)`` imagines S futures per member, S x M
in all, at M times the cost of one model (``--samples 4`` with two members costs what ``--samples
8`` costs with one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .checkpoint import load
from .object_diffusion import ObjectDiffusionModel

# what every member must share: the futures it imagines are read with the same shapes and actions
_SHARED = ("action_kind", "history", "horizon", "property_dim")


class ModelEnsemble:
    """M object world models imagined as one (``imagine`` pools their samples).

    Args:
        members: two or more ``ObjectDiffusionModel`` with the same action kind, history, horizon
            and property size.

    Raises:
        ValueError: fewer than two members, a member of another class, or members that differ in
            action kind, history, horizon or property size.
    """

    def __init__(self, members: Sequence[ObjectDiffusionModel]) -> None:
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two world models, got {len(members)}")
        for i, m in enumerate(members):
            if not isinstance(m, ObjectDiffusionModel):
                raise ValueError(f"ensemble member {i} is a {type(m).__name__}, not an object world model")
        for name in _SHARED:
            values = [getattr(m.config, name) for m in members]
            if len(set(values)) > 1:
                raise ValueError(f"ensemble members must share {name}; got {values}")
        self.members = members

    @property
    def config(self):
        """The first member's config (the fields ``imagine`` reads are shared by every member)."""
        return self.members[0].config

    def __len__(self) -> int:
        return len(self.members)


def load_ensemble(runs: str | Path | Sequence[str | Path], device: str = "cpu") -> ObjectDiffusionModel | ModelEnsemble:
    """The object world model of one run, or a ``ModelEnsemble`` of several (``checkpoint.load``
    each: its newest EMA weights, in eval mode on ``device``)."""
    paths = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if not paths:
        raise ValueError("no world-model run given")
    models = [load(p, device=device, kind="object") for p in paths]
    return models[0] if len(models) == 1 else ModelEnsemble(models)
