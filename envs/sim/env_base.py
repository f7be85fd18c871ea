"""``ForetellEnv``: the one contract every foretell env implements, so that planners, learners and
the dataset pipeline never branch on an env's kind.

What every env offers (``env.unwrapped``):

- ``family`` (``"blockstack"``, ``"scenario"``, ``"puzzle"``) and ``action_kind`` (``"skill"``: a
  JSON-able skill dict, ``"vector"``: a float array, ``"none"``: the passive action 0): what the
  env produces for datasets (``features()``).
- ``object_names``: the episode's objects, fixed at ``reset`` (row k of every per-object array is
  always ``object_names[k]``); ``objects``: their current ``ObjectSpec``s, the one source of truth
  for properties (interventions update it); ``present``: which of them are still in the scene.
- ``get_state()`` / ``set_state(state)``: an exact snapshot. ``set_state(get_state())`` followed by
  the same actions reproduces the same observations, info, events, captions and success timing:
  the snapshot holds the random generator, the step count that decides truncation and the
  property space of the episode, besides the family's own simulation state.
- ``intervene(changes)``: do()-interventions (``envs.sim.interventions``) that the simulation,
  the observations, the events and the captions all use from then on.
- ``counterfactual(changes, ...)`` and ``ground_truth(...)``: re-simulation under interventions and
  the causal graphs of the episode.
- ``snapshot_frame()``, ``record_frames(list)``, ``render()``, ``close()``: rendering, with
  renderers made only when an image is asked for and freed by ``close``.

The episode's end is decided here once: a family's step reports ``terminated`` (the task is
over); ``truncated`` comes from ``max_steps``, counted by the env itself (not by gymnasium's
``TimeLimit`` wrapper, whose counter a snapshot could not restore).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from .observations import check_options
from .passive import PassiveSim
from .properties import PropertySpace, get_space
from .render import RendererCache, SceneRenderer
from .scene import ObjectSpec


def scene_key(objects: list[ObjectSpec], *extra: Any) -> str:
    """A short hash of object specs (and anything else that identifies an episode's scene)."""
    desc = json.dumps([[o.to_dict() for o in objects], *extra], sort_keys=True, default=str)
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


class ForetellEnv(gym.Env):
    """Base of every foretell env; see the module docstring. Subclasses implement the hooks below."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}
    family: ClassVar[str]
    action_kind: ClassVar[str]

    def __init__(self, *, render_mode: str | None, space: str, image_size: int, obs_keys: tuple[str, ...],
                 valid_keys: tuple[str, ...], camera: str, render_size: int, max_steps: int) -> None:
        check_options(render_mode, tuple(obs_keys), valid_keys, camera)
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got max_steps={max_steps}")
        for name, size in (("image_size", image_size), ("render_size", render_size)):
            if not 8 <= size <= 2048:
                raise ValueError(f"{name} must be in [8, 2048] pixels, got {name}={size}")
        self.render_mode, self.image_size, self.render_size = render_mode, image_size, render_size
        self.obs_keys, self.camera, self.max_steps = tuple(obs_keys), camera, max_steps
        self.default_space: PropertySpace = get_space(space)
        self.space: PropertySpace = self.default_space
        self._renderers = RendererCache()
        self._elapsed = 0

    # ------------------------------------------------------------------ the episode
    def _begin_episode(self, seed: int | None, options: dict | None) -> dict:
        """Seed, pick the episode's property space (``options["space"]`` or the env's), reset the
        step count. Returns the remaining options for the family's own reset."""
        gym.Env.reset(self, seed=seed)
        options = dict(options or {})
        self.space = get_space(options.pop("space")) if "space" in options else self.default_space
        self._elapsed = 0
        return options

    def _count_step(self, terminated: bool) -> bool:
        """Count a step; return ``truncated`` (the step limit reached on a step that did not end the task)."""
        self._elapsed += 1
        return bool(not terminated and self._elapsed >= self.max_steps)

    @property
    def elapsed_steps(self) -> int:
        return self._elapsed

    def features(self) -> dict[str, Any]:
        """What an episode of this env holds, for datasets: family, action kind, observation keys."""
        return {"family": self.family, "action_kind": self.action_kind, "obs_keys": list(self.obs_keys),
                "max_steps": self.max_steps, "fps": self.metadata["render_fps"]}

    # ------------------------------------------------------------------ objects (family hooks)
    @property
    def object_names(self) -> list[str]:
        """The episode's objects in row order, fixed at reset (removed objects keep their row)."""
        raise NotImplementedError

    @property
    def objects(self) -> list[ObjectSpec]:
        """Current specs of ``object_names`` (properties as intervened on; poses as at reset)."""
        raise NotImplementedError

    @property
    def present(self) -> np.ndarray:
        """``(N,)`` bool: which of ``object_names`` are in the scene (False once removed)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ snapshots
    def get_state(self) -> dict:
        """Exact snapshot of the episode (restore with ``set_state`` in this env, same episode)."""
        return {"family": self.family, "episode_key": self._episode_key(), "space": self.space.name,
                "elapsed": self._elapsed, "rng": copy.deepcopy(self.np_random.bit_generator.state),
                "episode": self._get_state()}

    def set_state(self, state: dict) -> None:
        """Restore a snapshot from ``get_state``; a snapshot of another kind of env is refused."""
        if not isinstance(state, dict) or state.get("family") != self.family or "episode" not in state:
            raise ValueError(f"not a {self.family} snapshot from get_state(); got "
                             f"{state.get('family') if isinstance(state, dict) else type(state).__name__!r}")
        if state.get("episode_key") != self._episode_key():
            raise ValueError("the snapshot belongs to a different scene (another episode); reset with the "
                             "snapshot's seed and options first")
        self._set_state(state["episode"])
        self.space = get_space(state["space"])
        self._elapsed = int(state["elapsed"])
        self.np_random.bit_generator.state = copy.deepcopy(state["rng"])

    def _episode_key(self) -> str:
        """Identity of the episode's scene as reset made it, so a snapshot is never restored into another."""
        raise NotImplementedError

    def _get_state(self) -> dict:
        raise NotImplementedError

    def _set_state(self, state: dict) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ interventions and causality
    def intervene(self, changes: dict) -> None:
        raise NotImplementedError

    def counterfactual(self, changes: dict, *args, **kwargs):
        raise NotImplementedError

    def ground_truth(self, *args, **kwargs) -> dict:
        raise NotImplementedError

    # ------------------------------------------------------------------ rendering
    def _render_source(self) -> tuple:
        """``(model, data, geom_to_object)`` of what is on screen now."""
        raise NotImplementedError

    def _renderer(self, size: int) -> SceneRenderer:
        model, _, geom_to_object = self._render_source()
        return self._renderers.get(model, size, geom_to_object)

    def _image_renderer(self) -> SceneRenderer:
        return self._renderer(self.image_size)

    def snapshot_frame(self) -> np.ndarray:
        """RGB frame ``(render_size, render_size, 3)`` of the current scene, whatever the render mode."""
        _, data, _ = self._render_source()
        return self._renderer(self.render_size).rgb(data, self.camera)

    def render(self):
        if self.render_mode != "rgb_array" or not self._started:
            return None
        return self.snapshot_frame()

    @property
    def _started(self) -> bool:
        raise NotImplementedError

    def record_frames(self, frames: list | None) -> None:
        """Append a frame to ``frames`` every 40 ms of simulated time from now (None stops)."""
        raise NotImplementedError

    def close(self) -> None:
        self._renderers.close()


class PassiveSimEnv(ForetellEnv):
    """A ``ForetellEnv`` whose scene is a ``PassiveSim`` in ``self.sim`` (scenarios and puzzles):
    objects, presence and rendering come from it (pieces of a broken object count as that object)."""

    sim: PassiveSim | None = None

    @property
    def object_names(self) -> list[str]:
        return list(self.sim.names0) if self.sim else []

    @property
    def objects(self) -> list[ObjectSpec]:
        return [dataclasses.replace(o) for o in self.sim.objects] if self.sim else []

    @property
    def present(self) -> np.ndarray:
        return self.sim.present if self.sim else np.zeros(0, dtype=bool)

    @property
    def _started(self) -> bool:
        return self.sim is not None

    def _render_source(self) -> tuple:
        return self.sim.scene.model, self.sim.data, self.sim.geom_owner
