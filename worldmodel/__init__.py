"""foretell.worldmodel: diffusion world models, their training and loading.

Built: the object-state diffusion model (``ObjectDiffusionModel``; ``object_diffusion.py``), its
training run (``train``, ``foretell train world``), ``load(RUN)``, and the predict-ocp-v0 prefix
rule with its non-learned baselines (``ocp``: ``cut_dataset``, ``evaluate_baselines``; docs/ocp.md).
Not built yet: the frame model, rollouts and event read-outs (see docs/worldmodel.md).
"""

from .actions import ACTION_KINDS, SKILL_DIM, encode_skill
from .checkpoint import load
from .data import WindowSet, load_windows
from .object_diffusion import ObjectDiffusionModel
from .ocp import cut_dataset, evaluate_baselines
from .train import TrainConfig, train

__all__ = ["ACTION_KINDS", "SKILL_DIM", "ObjectDiffusionModel", "TrainConfig", "WindowSet", "cut_dataset",
           "encode_skill", "evaluate_baselines", "load", "load_windows", "train"]
