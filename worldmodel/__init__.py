"""foretell.worldmodel: diffusion world models, their training and loading.

Built: the object-state diffusion model (``ObjectDiffusionModel``; ``object_diffusion.py``), its
training run (``train``, ``foretell train world``) and ``load(RUN)``. Not built yet: the frame
model, rollouts and event read-outs (see docs/worldmodel.md).
"""

from .actions import ACTION_KINDS, SKILL_DIM, encode_skill
from .checkpoint import load
from .data import WindowSet, load_windows
from .object_diffusion import ObjectDiffusionModel
from .train import TrainConfig, train

__all__ = ["ACTION_KINDS", "SKILL_DIM", "ObjectDiffusionModel", "TrainConfig", "WindowSet", "encode_skill", "load",
           "load_windows", "train"]
