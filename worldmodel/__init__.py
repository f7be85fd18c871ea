"""foretell.worldmodel: diffusion world models, their training and loading.

Built: the object-state diffusion model (``ObjectDiffusionModel``; ``object_diffusion.py``), its
training run (``train``, ``foretell train world``), ``load(RUN)``, and the predict-ocp-v0 prefix
rule with its non-learned baselines (``ocp``: ``cut_dataset``, ``evaluate_baselines``; docs/ocp.md),
ensembles of object models whose sampled futures ``imagine`` pools (``ModelEnsemble``,
``load_ensemble``; ``ensemble.py``), read-outs over sampled futures (``readouts``: support, goal
predicates, stability, contacts, falls, breaks, final positions) and the planner's ``imagine`` (C
plans x S samples in one batch per step; ``SceneState``, ``Imagined``), skill outcomes (``evaluate_skill_outcomes``), the deterministic
regressor baseline (``ObjectRegressorModel``, ``load_model`` loads either kind) and the model's
predict-ocp-v0 column (``evaluate_predict``, ``compare_video``; ``foretell eval predict``,
``foretell worldmodel show``) with Platt maps of its p(contact) fitted on validation seeds
(``calibration``), and the DIAMOND-style frame diffusion model
(``FrameDiffusionModel``; ``frame_diffusion.py``, windows from ``frame_data.py``, PSNR/SSIM and
contact read from imagined frames in ``frame_eval.py``; ``foretell eval frames``).
"""

from . import readouts
from .actions import ACTION_KINDS, SKILL_DIM, encode_skill
from .checkpoint import load
from .data import WindowSet, load_windows
from .ensemble import ModelEnsemble, load_ensemble
from .frame_data import FrameWindowSet, load_frame_windows
from .frame_diffusion import FrameDiffusionModel
from .imagine import Imagined, SceneState, imagine
from .object_diffusion import ObjectDiffusionModel
from .ocp import cut_dataset, evaluate_baselines, shapes_touch
from .ocp_model import compare_video, evaluate_predict
from .regressor import ObjectRegressorModel, load_model
from .skills import evaluate_skill_outcomes
from .train import TrainConfig, train

__all__ = ["ACTION_KINDS", "SKILL_DIM", "FrameDiffusionModel", "FrameWindowSet", "Imagined", "ModelEnsemble",
           "ObjectDiffusionModel", "ObjectRegressorModel", "SceneState", "TrainConfig", "WindowSet", "compare_video",
           "cut_dataset", "encode_skill", "evaluate_baselines", "evaluate_predict", "evaluate_skill_outcomes",
           "imagine", "load", "load_ensemble", "load_frame_windows", "load_model", "load_windows", "readouts",
           "shapes_touch", "train"]
