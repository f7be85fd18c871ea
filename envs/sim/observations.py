"""Observation spaces and read-outs shared by every table-top env (BlockStack and scenarios)."""

from __future__ import annotations

from collections.abc import Callable

import mujoco
import numpy as np
from gymnasium import spaces

from .physics import STATE_DIM
from .render import SceneRenderer
from .scene import PROPERTY_NAMES, ObjectSpec

MAX_OBJECTS = 6
"""Rows of the per-object arrays; scenes with fewer objects pad with zeros (see ``object_mask``)."""
IMAGE_KEYS = ("rgb", "depth", "segmentation")
IMAGE_KEYS_SET = frozenset(IMAGE_KEYS)
OBJECT_KEYS = ("state", "properties", "object_mask")
CAMERAS = ("front", "top")


def check_options(render_mode: str | None, obs_keys: tuple[str, ...], valid_keys: tuple[str, ...],
                  camera: str) -> None:
    """Raise ``ValueError`` for an unknown render mode, observation key or camera."""
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
    unknown = set(obs_keys) - set(valid_keys)
    if unknown:
        raise ValueError(f"unknown obs_keys {sorted(unknown)}; valid keys: {valid_keys}")
    if camera not in CAMERAS:
        raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")


def observation_space(obs_keys: tuple[str, ...], image_size: int, extra: dict | None = None) -> spaces.Dict:
    """The ``Dict`` space for ``obs_keys`` (images ``(S, S, ...)``, per-object arrays ``(6, ...)``)."""
    s = image_size
    all_spaces = {
        "rgb": spaces.Box(0, 255, (s, s, 3), np.uint8),
        "depth": spaces.Box(0.0, np.inf, (s, s), np.float32),
        "segmentation": spaces.Box(-1, MAX_OBJECTS - 1, (s, s), np.int32),
        "state": spaces.Box(-np.inf, np.inf, (MAX_OBJECTS, STATE_DIM), np.float64),
        "properties": spaces.Box(-np.inf, np.inf, (MAX_OBJECTS, len(PROPERTY_NAMES)), np.float64),
        "object_mask": spaces.Box(0, 1, (MAX_OBJECTS,), np.int8),
        **(extra or {}),
    }
    return spaces.Dict({k: all_spaces[k] for k in obs_keys})


def observe(obs_keys: tuple[str, ...], renderer: Callable[[], SceneRenderer], data: mujoco.MjData, camera: str,
            states: np.ndarray, objects: list[ObjectSpec], present: np.ndarray | None = None) -> dict:
    """Images from ``camera`` and zero-padded per-object arrays for the keys asked for.

    Args:
        renderer: returns the renderer; called only when an image key is asked for, so envs
            observed by state alone never build an OpenGL context.
        states: ``(N, 13)`` object states, one row per object of the episode (row k is always
            the same object); objects: their current specs (for ``properties``).
        present: ``(N,)`` bool, False for objects removed by an intervention: their rows are
            zero and their ``object_mask`` 0. Default: all present.
    """
    n, obs = len(objects), {}
    present = np.ones(n, dtype=bool) if present is None else np.asarray(present, dtype=bool)
    if IMAGE_KEYS_SET & set(obs_keys):
        view = renderer()
        for key in IMAGE_KEYS:
            if key in obs_keys:
                obs[key] = getattr(view, key)(data, camera)
    if "state" in obs_keys:
        obs["state"] = np.zeros((MAX_OBJECTS, STATE_DIM))
        obs["state"][:n] = np.where(present[:, None], states, 0.0)
    if "properties" in obs_keys:
        obs["properties"] = np.zeros((MAX_OBJECTS, len(PROPERTY_NAMES)))
        obs["properties"][:n] = np.where(present[:, None], np.stack([o.property_vector() for o in objects]), 0.0)
    if "object_mask" in obs_keys:
        obs["object_mask"] = np.zeros(MAX_OBJECTS, dtype=np.int8)
        obs["object_mask"][:n] = present
    return obs
