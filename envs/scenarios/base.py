"""Passive-physics scenarios: a red agent, a yellow patient and distractors; watch what happens.

``ScenarioEnv`` is the base of every scenario (``foretell/Collide-v0``, ``foretell/Drop-v0``, ...).
A subclass only samples the scene (``sample_scene``). The base provides:

- gymnasium API: ``reset(seed)``; each ``step`` (the only action is 0, "watch") advances one
  40 ms frame; the episode ends after ``horizon`` frames (3 s by default).
- observations as in BlockStack: ``rgb``, ``depth``, ``segmentation``, ``state`` (6, 13),
  ``properties`` (6, 14), ``object_mask``.
- ``info``: ``events`` of the frame (``contact`` onsets between objects with the impulse so far,
  ``topple``, ``break``), ``contact_label`` (has the agent
  touched the patient yet), ``broken`` (objects shattered so far), at the last step
  ``causal_graph`` (direct, node-link JSON), ``caption`` (event-grounded, seeded paraphrase)
  and ``final_positions``.
- ``intervene({...})`` (see ``envs.sim.interventions``) at any frame; ``counterfactual(changes)`` for
  a deterministic rollout of the episode under interventions; ``ground_truth()`` for the direct
  and but-for total-effect graphs.
- the rest of the contract every foretell env shares (``envs.sim.env_base.ForetellEnv``):
  snapshots, the episode's property space, rendering.
"""

from __future__ import annotations

import copy
import dataclasses

import networkx as nx
import numpy as np
from gymnasium import spaces

from ..sim import physics
from ..sim.captions import caption
from ..sim.env_base import PassiveSimEnv, scene_key
from ..sim.ground_truth import closure_agreement
from ..sim.interventions import intervene_now, plan_interventions
from ..sim.observations import IMAGE_KEYS, MAX_OBJECTS, OBJECT_KEYS, observation_space, observe
from ..sim.passive import PassiveSim, Rollout, simulate, total_effect
from ..sim.properties import PropertySpace
from ..sim.scene import ObjectSpec

OBS_KEYS = (*IMAGE_KEYS, *OBJECT_KEYS)
__all__ = ["ScenarioEnv", "Rollout", "simulate"]


def _is_prevention(factual: Rollout, counterfactual: Rollout, name: str) -> bool:
    """Did removing an object let ``name`` touch something it never touched in the factual run?

    Such an effect is *prevention* (u stopped w from reaching v): no chain of factual contacts
    leads from u to v, so the direct graph's closure cannot hold it, by definition.
    """
    j_cf, j_f = counterfactual.names.index(name), factual.names.index(name)
    for k, other in enumerate(counterfactual.names):
        if k != j_cf and counterfactual.recorder.t_first[k, j_cf] >= 0:
            if factual.recorder.t_first[factual.names.index(other), j_f] < 0:
                return True
    return False


class ScenarioEnv(PassiveSimEnv):
    """Base class; see the module docstring. Subclasses implement ``sample_scene``."""

    family = "scenario"
    action_kind = "none"
    agent = "red"
    patient = "yellow"
    FRAGILITY: dict[str, tuple[float, float]] = {}  # per space: break-threshold range of fragile objects

    @property
    def fragility_range(self) -> tuple[float, float] | None:
        return self.FRAGILITY.get(self.space.name)

    def __init__(self, render_mode: str | None = None, space: str = "A", image_size: int = 128,
                 obs_keys: tuple[str, ...] = OBS_KEYS, camera: str = "front", render_size: int = 256,
                 horizon: int = 75) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got horizon={horizon}")
        super().__init__(render_mode=render_mode, space=space, image_size=image_size, obs_keys=obs_keys,
                         valid_keys=OBS_KEYS, camera=camera, render_size=render_size, max_steps=horizon)
        self.horizon = horizon
        self.observation_space = observation_space(self.obs_keys, image_size)
        self.action_space = spaces.Discrete(1)
        self.sim: PassiveSim | None = None
        self._frame_callback = None

    # ------------------------------------------------------------------ to implement
    def sample_scene(self, rng: np.random.Generator, space: PropertySpace
                     ) -> tuple[list[ObjectSpec], dict[str, np.ndarray]]:
        """Return object specs (names ``<colour>_<shape>``; agent red, patient yellow) and
        initial velocities by name: ``(3,)`` linear (world frame) or ``(6,)`` linear plus angular
        (body frame, as MuJoCo's free joint takes it). May set ``self.markers``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ names

    @property
    def scene(self):
        return self.sim.scene if self.sim else None

    @property
    def data(self):
        return self.sim.data if self.sim else None

    @property
    def agent_name(self) -> str:
        return next(n for n in self.initial_objects_names if n.startswith(self.agent + "_"))

    @property
    def patient_name(self) -> str:
        return next(n for n in self.initial_objects_names if n.startswith(self.patient + "_"))

    @property
    def initial_objects_names(self) -> list[str]:
        return [o.name for o in self.initial_objects]

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = self._begin_episode(seed, options)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; a scenario takes only 'space'")
        self.markers = ()  # sample_scene may set goal zones to draw
        objects, velocities = self.sample_scene(self.np_random, self.space)
        if not 2 <= len(objects) <= MAX_OBJECTS:
            raise ValueError(f"a scenario needs 2..{MAX_OBJECTS} objects, got {len(objects)}")
        self.initial_objects = [dataclasses.replace(o) for o in objects]
        self.initial_velocities = {k: np.asarray(v, dtype=float) for k, v in velocities.items()}
        self.interventions: list[tuple[int, dict]] = []
        self.sim = PassiveSim(objects, self.initial_velocities, image_size=max(self.image_size, self.render_size),
                              markers=self.markers)
        self._frame = 0
        self._positions = [self.sim.positions()]
        is_ball = np.array([o.shape == "ball" for o in objects])
        self._upright = ~is_ball & (physics.up_alignment(self.sim.states()[:, 3:7]) > 0.7)
        return self._observation(), self._info([])

    def step(self, action):
        if self.scene is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"scenario envs are passive: the only action is 0, got {action!r}")
        steps_before = self.sim.recorder.steps
        events = self.sim.step_frame() + self._frame_events(steps_before)
        self._frame += 1
        self._positions.append(self.sim.positions())
        if self._frame_callback is not None:
            self._frame_callback()
        terminated = self._frame >= self.horizon
        truncated = self._count_step(terminated)
        info = self._info(events)
        if terminated:
            graph = self.sim.recorder.direct_graph(self.object_names)
            info["causal_graph"] = nx.node_link_data(graph, edges="edges")
            info["caption"] = self.caption(graph, info["contact_label"], self.np_random)
            info["final_positions"] = {n: p.tolist() for n, p in zip(self.object_names, self._positions[-1],
                                                                     strict=True)}
        return self._observation(), 0.0, terminated, truncated, info

    # ------------------------------------------------------------------ interventions
    def intervene(self, changes: dict) -> None:
        """Apply do()-interventions now; the episode continues from the current state."""
        if self.sim is None:
            raise RuntimeError("call reset() before intervene()")
        scene, data, _ = intervene_now(self.sim.scene, self.sim.data, changes, self.space,
                                       max(self.image_size, self.render_size), self.fragility_range)
        self.sim.adopt(scene, data)
        self.interventions.append((self._frame, dict(changes)))

    def counterfactual(self, changes: dict, frames: int | None = None, state: dict | None = None) -> Rollout:
        """Re-run this episode under ``changes`` (deterministic: the same call gives the same bytes).

        Args:
            changes: interventions (``envs.sim.interventions``), applied at the start or at ``state``.
            frames: how many frames to simulate (default: to the horizon).
            state: a snapshot from ``get_state()`` of this episode to branch from instead of the
                start; the env itself is left exactly as it was. The rollout's first row of
                positions is that state's frame; it keeps the episode's object list, with NaN
                positions for objects removed by ``changes``.
        """
        if state is not None:
            return self._counterfactual_from(state, changes, frames)
        plan = plan_interventions(changes, self.initial_objects, self.space, self.fragility_range)
        velocities = {k: v for k, v in self.initial_velocities.items() if k not in plan.removed}
        for name, vel in plan.velocity.items():
            velocities[name] = np.concatenate([vel, velocities.get(name, np.zeros(6))[3:]])
        return simulate(plan.objects, velocities, self.horizon if frames is None else frames)

    def _counterfactual_from(self, state: dict, changes: dict, frames: int | None) -> Rollout:
        saved = self.get_state()
        try:
            self.set_state(state)
            if changes:
                self.intervene(changes)
            n = self.horizon - self._frame if frames is None else frames
            absent = ~np.isin(np.arange(len(self.sim.names0)), self.sim.owner)  # removed: no row to report
            positions = [self.sim.positions()]
            for _ in range(max(n, 0)):
                self.sim.step_frame()
                positions.append(self.sim.positions())
            positions = np.array(positions)
            positions[:, absent] = np.nan
            return Rollout(list(self.sim.names0), positions, self.sim.broken.copy(), copy.deepcopy(self.sim.recorder))
        finally:
            self.set_state(saved)

    def ground_truth(self, but_for: bool = True) -> dict:
        """Direct and (optionally) total-effect graphs of the episode from its start, and their
        agreement. Costs one factual plus N but-for simulations, plus one *placebo*: the same
        scene with its objects listed in reverse order, which is the same physics computed in
        another order. When the placebo's trajectories differ from the factual ones by more than
        the but-for tolerance, the episode is numerically chaotic (a knife-edge balance, a
        grazing hit): any re-simulation, removal included, can change it, so its but-for
        effects are not all causal (``agreement["chaotic"]``)."""
        factual = simulate(self.initial_objects, self.initial_velocities, self.horizon)
        direct = factual.recorder.direct_graph(factual.names)
        result = {"direct": direct, "factual": factual}
        if but_for:
            total, rollouts = total_effect(factual, self.initial_objects, self.initial_velocities, self.horizon)
            agreement = closure_agreement(direct, total)
            agreement["prevention"] = [edge for edge in agreement["missing_in_direct"]
                                       if _is_prevention(factual, rollouts[edge[0]], edge[1])]
            placebo = simulate(self.initial_objects[::-1], self.initial_velocities, self.horizon)
            order = [placebo.names.index(n) for n in factual.names]
            noise = float(np.linalg.norm(placebo.positions[:, order] - factual.positions, axis=-1).max())
            agreement["numerical_noise"] = noise
            agreement["chaotic"] = bool(noise > total.graph["tol"] or (placebo.broken[order] != factual.broken).any())
            result.update(total_effect=total, agreement=agreement)
        return result

    def _frame_events(self, steps_before: int) -> list[dict]:
        """Contacts that began in the last frame, and objects that toppled (tipped from upright
        onto a side) in it. Breaks come from the simulation itself."""
        rec, names, dt = self.sim.recorder, self.object_names, self.scene.model.opt.timestep
        events = []
        i, j = np.nonzero(np.triu(rec.t_first > steps_before, k=1))
        for a, b in zip(i, j, strict=True):
            events.append({"type": "contact", "a": names[a], "b": names[b], "t": float(rec.t_first[a, b] * dt),
                           "impulse": float(rec.interaction[a, b] + rec.support[a, b] + rec.support[b, a])})
        up = physics.up_alignment(self.sim.states()[:, 3:7])
        for k in np.flatnonzero(self._upright & (up < 0.3) & ~self.sim.broken & self.sim.present):
            self._upright[k] = False
            events.append({"type": "topple", "object": names[k], "t": float(self.data.time)})
        return sorted(events, key=lambda e: e["t"])

    # ------------------------------------------------------------------ language
    def intro(self, rng: np.random.Generator | None) -> str:
        """The caption's first sentence: what sets the episode going (scenario-specific)."""
        return "The scene plays out."

    def caption(self, direct: nx.DiGraph, touched: bool, rng: np.random.Generator | None = None) -> str:
        """Event-grounded caption of the episode (``envs.sim.captions``); canonical when ``rng`` is None."""
        return caption(self.intro(rng), direct, self.sim.objects, self.agent_name, self.patient_name, touched,
                       self.space, rng)

    # ------------------------------------------------------------------ internals

    def _observation(self) -> dict:
        return observe(self.obs_keys, self._image_renderer, self.data, self.camera, self.sim.states(),
                       self.sim.objects, self.sim.present)

    def _info(self, events: list[dict]) -> dict:
        names = self.object_names
        touched = False
        if self.agent_name in names and self.patient_name in names:
            i, j = names.index(self.agent_name), names.index(self.patient_name)
            touched = bool(self.sim.recorder.t_first[i, j] >= 0)
        return {"events": events, "contact_label": touched, "object_names": names, "frame": self._frame,
                "broken": [n for n, b in zip(names, self.sim.broken, strict=True) if b],
                "agent": self.agent_name, "patient": self.patient_name, "time": float(self.data.time),
                "interventions": copy.deepcopy(self.interventions)}

    # ------------------------------------------------------------------ state and rendering
    def _episode_key(self) -> str:
        return scene_key(self.initial_objects, sorted((k, v.tolist()) for k, v in self.initial_velocities.items()))

    def _get_state(self) -> dict:
        return {"sim": self.sim.get_state(), "frame": self._frame, "positions": [p.copy() for p in self._positions],
                "upright": self._upright.copy(), "interventions": copy.deepcopy(self.interventions)}

    def _set_state(self, state: dict) -> None:
        self.sim.set_state(state["sim"])
        self._frame = state["frame"]
        self._upright = state["upright"].copy()
        self._positions = [p.copy() for p in state["positions"]]
        self.interventions = copy.deepcopy(state["interventions"])

    def record_frames(self, frames: list | None) -> None:
        self._frame_callback = None if frames is None else (lambda: frames.append(self.snapshot_frame()))

    def close(self) -> None:
        super().close()
        self.sim = None
