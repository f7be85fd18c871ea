"""``PuzzleEnv``: a puzzle family as a one-step gymnasium env (see ``envs.puzzles.core``).

``reset(seed, options)`` picks a task:
- ``{"template": name_or_index, "task": k}``: the k-th task of that template's fixed task set
  (``envs.puzzles.tasks``; what ``envs.puzzles.benchmark.task_set`` and the benchmark use);
- ``{"template": ..., "seed": s}`` or ``{"task_id": "<template>:<seed>"}``: any task by seed;
- no options: a fresh task (not verified solvable) of a template drawn from the env's split
  (``space="A"``: train templates, ``"B"``: held-out templates), seeded from ``self.np_random``.

``info["puzzle_goal"]`` is the goal (``PuzzleGoal.to_dict``). ``step(action)`` simulates the whole attempt (4 s, headless) and ends the episode: reward 1.0
on success else 0.0, ``terminated=True``. ``info`` holds ``success`` (= ``goal_satisfied``),
``events`` (contact onsets), ``final_positions``, ``causal_graph`` (direct, node-link JSON, with
an ``agent -> red_ball`` edge for the action), ``violations`` and ``attempt`` (the action, its
physical values, the red ball's start). Invalid actions (wrong shape, NaN, outside [-1, 1])
raise ``ValueError``. Same task and same action give the same outcome, byte for byte.

The shared env contract (snapshots, interventions, rendering) is ``envs.sim.env_base.ForetellEnv``;
``reset(options={"space": "B"})`` draws fresh tasks from the held-out templates.
"""

from __future__ import annotations

import copy
import dataclasses

import networkx as nx
import numpy as np
from gymnasium import spaces

from ..sim.env_base import PassiveSimEnv
from ..sim.ground_truth import closure_agreement
from ..sim.interventions import plan_interventions
from ..sim.observations import IMAGE_KEYS, OBJECT_KEYS, observation_space, observe
from ..sim.passive import PassiveSim, Rollout, simulate, total_effect
from ..sim.properties import get_space
from .core import (
    AGENT,
    FRAMES,
    Outcome,
    PuzzleFamily,
    PuzzleTask,
    contact_events,
    direct_graph,
    simulate_attempt,
)

OBS_KEYS = (*IMAGE_KEYS, *OBJECT_KEYS, "instruction")
TEXT_CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:'_-()")
SPLIT_OF_SPACE = {"A": "train", "B": "heldout"}


def stored_tasks(template: str) -> list[dict]:
    """The fixed task list of ``template``: dicts with ``seed``, ``solution`` and ``random_rate``."""
    from .tasks import TASKS  # a data table; imported on use

    if template not in TASKS:
        raise ValueError(f"no stored tasks for template {template!r}")
    return TASKS[template]


class PuzzleEnv(PassiveSimEnv):
    """Base of the puzzle envs; subclasses set ``puzzle``. See the module docstring."""

    family = "puzzle"
    action_kind = "vector"
    puzzle: PuzzleFamily

    def __init__(self, render_mode: str | None = None, space: str = "A", image_size: int = 128,
                 obs_keys: tuple[str, ...] = OBS_KEYS, camera: str = "front", render_size: int = 256) -> None:
        super().__init__(render_mode=render_mode, space=space, image_size=image_size, obs_keys=obs_keys,
                         valid_keys=OBS_KEYS, camera=camera, render_size=render_size, max_steps=1)
        text = spaces.Text(max_length=512, min_length=0, charset=TEXT_CHARSET)
        self.observation_space = observation_space(self.obs_keys, image_size, extra={"instruction": text})
        self.action_space = spaces.Box(-1.0, 1.0, (self.puzzle.action_dim,), np.float32)
        self.task: PuzzleTask | None = None
        self.sim: PassiveSim | None = None
        self.outcome: Outcome | None = None
        self._frames: list | None = None

    @property
    def split(self) -> str:
        """The template split fresh tasks come from: train in space A, held-out in space B."""
        return SPLIT_OF_SPACE[self.space.name]

    # ------------------------------------------------------------------ tasks
    def _select_task(self, options: dict) -> PuzzleTask:
        unknown = sorted(set(options) - {"task_id", "template", "task", "seed"})
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; valid: space, task_id, template, task, seed")
        if "task_id" in options:
            template, _, seed = str(options["task_id"]).rpartition(":")
            if not template or not seed.isdigit():
                raise ValueError(f"task_id must look like '<template>:<seed>', got {options['task_id']!r}")
            return self.puzzle.make_task(template, int(seed))
        if "template" in options:
            template = self.puzzle.template(options["template"])
            if "seed" in options:
                return self.puzzle.make_task(template.name, int(options["seed"]))
            tasks, k = stored_tasks(template.name), int(options.get("task", 0))
            if not 0 <= k < len(tasks):
                raise ValueError(f"task must be in [0, {len(tasks) - 1}] for template {template.name}, got {k}")
            return self.puzzle.make_task(template.name, tasks[k]["seed"])
        templates = [t for t in self.puzzle.templates if t.split == self.split]
        template = templates[int(self.np_random.integers(len(templates)))]
        return self.puzzle.make_task(template.name, int(self.np_random.integers(2**31 - 1)))

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = self._begin_episode(seed, options)
        self.task = self._select_task(options)
        self._show_task()
        self.outcome = None
        return self._observation(), self._info()

    def step(self, action):
        if self.task is None:
            raise RuntimeError("call reset() before step()")
        if self.outcome is not None:
            raise RuntimeError("a puzzle episode is one attempt: call reset() before stepping again")
        physical = self.puzzle.physical(action)
        start, velocity = self.puzzle.agent_start(self.task, physical)
        on_frame = None if self._frames is None else (lambda sim: self._frames.append(self._render(sim)))
        self.outcome = simulate_attempt(self.task, start, velocity, record=True, on_frame=on_frame,
                                        image_size=max(self.image_size, self.render_size))
        self.sim = self.outcome.sim
        truncated = self._count_step(True)
        info = self._info()
        names, dt = self.sim.names0, self.sim.scene.model.opt.timestep
        info.update(
            success=self.outcome.success, goal_satisfied=self.outcome.success, violations=list(self.outcome.violations),
            events=contact_events(names, self.outcome.first_touch, dt),
            final_positions={n: p.tolist() for n, p in zip(names, self.outcome.final_states[:, :3], strict=True)},
            causal_graph=nx.node_link_data(direct_graph(self.outcome), edges="edges"),
            attempt={"action": np.asarray(action, dtype=np.float64).tolist(),
                     "physical": dict(zip(self.puzzle.action_names, physical.tolist(), strict=True)),
                     "agent_start": start.tolist(), "agent_velocity": velocity.tolist()})
        return self._observation(), float(self.outcome.success), True, truncated, info

    # ------------------------------------------------------------------ interventions and ground truth
    def intervene(self, changes: dict) -> None:
        """do()-interventions on the task before the attempt (``envs.sim.interventions``: mass,
        friction, restitution, size, position, orientation, remove, freeze). The red ball is the
        tool and the goal's objects define success, so neither can be removed; only the action
        sets velocities."""
        if self.task is None or self.outcome is not None:
            raise RuntimeError("intervene on a puzzle after reset() and before its one step()")
        for key, value in changes.items():
            name, _, variable = key.partition(".")
            if variable == "velocity":
                raise ValueError(f"{key}: in a puzzle only the action sets velocities")
            goal = self.task.goal
            if value == "remove" and name in (AGENT, goal.target, goal.other, *goal.forbidden):
                raise ValueError(f"{key}: {name} is the tool or part of the goal and cannot be removed")
        plan = plan_interventions(changes, self.task.objects, get_space(self.task.space))
        self.task = dataclasses.replace(self.task, objects=plan.objects)
        self._show_task()

    def counterfactual(self, changes: dict, action) -> Rollout:
        """The attempt ``action`` on the current task under ``changes`` (interventions as in
        ``intervene``), simulated headless; the env is left as it was."""
        saved = self.get_state()
        try:
            if changes:
                self.intervene(changes)
            start, velocity = self.puzzle.agent_start(self.task, self.puzzle.physical(action))
            objects = [dataclasses.replace(o) for o in self.task.objects]
            objects[0] = dataclasses.replace(objects[0], pos=tuple(float(x) for x in start))
            return simulate(objects, {AGENT: np.asarray(velocity, dtype=float)}, FRAMES)
        finally:
            self.set_state(saved)

    def ground_truth(self, action) -> dict:
        """Direct and total-effect graphs of ``action`` on the current task, and their agreement
        (as ``ScenarioEnv.ground_truth``): one factual attempt plus one without each object (the
        red ball's but-for is the scene left alone). The action is not taken (the episode is
        unchanged)."""
        start, velocity = self.puzzle.agent_start(self.task, self.puzzle.physical(action))
        objects = [dataclasses.replace(o) for o in self.task.objects]
        objects[0] = dataclasses.replace(objects[0], pos=tuple(float(x) for x in start))
        velocities = {AGENT: np.asarray(velocity, dtype=float)}
        factual = simulate(objects, velocities, FRAMES)
        direct = factual.recorder.direct_graph(factual.names)
        total, _ = total_effect(factual, objects, velocities, FRAMES)
        return {"direct": direct, "total_effect": total, "agreement": closure_agreement(direct, total),
                "factual": factual}

    def _show_task(self) -> None:
        """The task's scene at rest, before the attempt (what observations and renders show)."""
        self.sim = PassiveSim(self.task.objects, {}, image_size=max(self.image_size, self.render_size),
                              markers=self.task.markers)

    def _episode_key(self) -> str:
        return self.task.task_id

    def _get_state(self) -> dict:
        """The task as it stands (interventions included) and whether the attempt was made."""
        return {"task": copy.deepcopy(self.task), "attempted": self.outcome is not None}

    def _set_state(self, state: dict) -> None:
        """Restore a state from ``get_state`` taken before the attempt."""
        if state["attempted"]:
            raise ValueError("only a puzzle state from before its attempt can be restored")
        self.task, self.outcome = copy.deepcopy(state["task"]), None
        self._show_task()

    # ------------------------------------------------------------------ read-outs
    @property
    def instruction(self) -> str:
        return self.task.instruction if self.task else ""

    def _observation(self) -> dict:
        obs = observe(self.obs_keys, self._image_renderer, self.sim.data, self.camera,
                      self.sim.states(), self.sim.objects, self.sim.present)
        if "instruction" in self.obs_keys:
            obs["instruction"] = self.task.instruction
        return obs

    def _info(self) -> dict:
        task, family = self.task, self.puzzle
        return {"task_id": task.task_id, "template": task.template, "split": task.split, "family": family.name,
                "space": task.space, "instruction": task.instruction, "puzzle_goal": task.goal.to_dict(),
                "object_names": list(self.sim.names0), "events": [],
                "time": float(self.sim.data.time), "frames": 0 if self.outcome is None else FRAMES,
                "action_names": list(family.action_names), "action_low": list(family.action_low),
                "action_high": list(family.action_high)}

    # ------------------------------------------------------------------ rendering
    def _render(self, sim: PassiveSim) -> np.ndarray:
        return self._renderers.get(sim.scene.model, self.render_size, sim.geom_owner).rgb(sim.data, self.camera)

    def record_frames(self, frames: list | None) -> None:
        """Append a frame every 40 ms of the next attempt to ``frames`` (None stops recording)."""
        self._frames = frames

    def close(self) -> None:
        super().close()
        self.sim = None
