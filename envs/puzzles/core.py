"""Physics puzzles (PHYRE-style): one continuous action, a 4 s headless rollout, judged by the simulator.

A *family* (``PuzzleFamily``: launch, topple, drop) owns templates and maps a normalised action
in ``[-1, 1]^k`` to where and how the red ball starts. A *template* (``Template``) is a layout
family with a split (train or held-out) and a property space; a *task* (``PuzzleTask``) is one
template built from one seed (``np.random.default_rng([family, template, seed])``), so a task
id ``"<template>:<seed>"`` names the same scene on every machine. ``simulate_attempt`` runs one
action to the end and ``judge`` decides success from the rollout:

- ``off``: the yellow target ends with its centre below ``below`` (knocked off its platform);
- ``zone``: the yellow target ends resting on the table inside the goal zone (a ``Marker``);
- ``touch``: the yellow target touches ``other`` at some point of the rollout;
- always: the red ball never touches a ``forbidden`` (purple) object.

``envs.puzzles.env.PuzzleEnv`` wraps a family as a one-step gymnasium env.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import mujoco
import networkx as nx
import numpy as np

from ..sim.passive import FRAME_SUBSTEPS, PassiveSim
from ..sim.properties import PropertySpace, get_space
from ..sim.scene import Marker, ObjectSpec

FRAMES = 100  # 100 x 40 ms = 4 s: long enough for knocked objects to land and settle
ON_TABLE_MARGIN = 0.012  # m above an object's largest half-extent that still counts as lying on the table
AGENT = "red_ball"
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class PuzzleGoal:
    """What counts as solved (see the module docstring).

    Attributes:
        kind: "off", "zone" or "touch".
        target: the object the goal is about (yellow).
        other: ``touch`` only: the object the target must touch.
        zone: ``zone`` only: the goal patch on the table.
        below: ``off`` only: height (m) the target's centre must end below.
        forbidden: objects the red ball must never touch.
    """

    kind: str
    target: str
    other: str | None = None
    zone: Marker | None = None
    below: float = 0.0
    forbidden: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["forbidden"] = list(self.forbidden)
        return out


@dataclass
class PuzzleTask:
    """One puzzle: a template built from one seed. ``objects[0]`` is the red ball at its start or tray pose."""

    family: str
    template: str
    split: str
    seed: int
    space: str
    objects: list[ObjectSpec]
    markers: tuple[Marker, ...]
    goal: PuzzleGoal
    instruction: str
    extra: dict = field(default_factory=dict)  # family-specific geometry the action mapping needs

    @property
    def task_id(self) -> str:
        return f"{self.template}:{self.seed}"


@dataclass(frozen=True)
class Template:
    """A layout family: ``build(rng, space)`` returns ``(objects, markers, goal, instruction, extra)``."""

    name: str
    split: str
    space: str
    build: Callable
    description: str


@dataclass
class Outcome:
    """The judged result of one attempt.

    Attributes:
        success: the goal holds.
        first_touch: ``(N, N)`` first physics step at which objects i and j touched, -1 if never.
        positions: ``(FRAMES+1, N, 3)`` object centres per frame.
        final_states: ``(N, 13)`` object states at the end.
        states: ``(FRAMES+1, N, 13)`` full object states per frame (position, quaternion wxyz,
            linear and angular velocity; frame 0 holds the red ball's launch velocity): what a
            world model of the attempt trains on. Cut short with ``positions``.
        violations: broken rules, e.g. ``["red_ball touched purple_wall"]``.
        sim: the finished simulation (for rendering and its contact recorder).
    """

    success: bool
    first_touch: np.ndarray
    positions: np.ndarray
    final_states: np.ndarray
    violations: list[str]
    sim: PassiveSim
    states: np.ndarray | None = None


def touching_pairs(sim: PassiveSim) -> tuple[np.ndarray, np.ndarray]:
    """Object index pairs ``(a, b)`` in active contact now (the contact recorder's filter)."""
    ncon = sim.data.ncon
    if ncon == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    con = sim.data.contact
    sides = sim.geom_owner[con.geom[:ncon]]  # (k, 2)
    keep = (con.efc_address[:ncon] >= 0) & (sides[:, 0] >= 0) & (sides[:, 1] >= 0) & (sides[:, 0] != sides[:, 1])
    return sides[keep, 0], sides[keep, 1]


def simulate_attempt(task: PuzzleTask, agent_pos: np.ndarray, agent_vel: np.ndarray, record: bool = False,
                     on_frame: Callable[[PassiveSim], None] | None = None, frames: int = FRAMES,
                     image_size: int = 128, stop_early: bool = False) -> Outcome:
    """Run the red ball from ``agent_pos`` with free-joint velocity ``agent_vel`` (6,) and judge it.

    Args:
        record: also feed the contact recorder every physics step (for the direct causal graph);
            the outcome is the same either way, only slower.
        on_frame: called after every 40 ms frame (video recording).
        stop_early: stop as soon as the verdict is certain (a forbidden touch; a touch goal met
            with nothing forbidden): the same verdict, faster; ``positions`` is then cut short.
    """
    objects = [dataclasses.replace(o) for o in task.objects]
    objects[0] = dataclasses.replace(objects[0], pos=tuple(float(x) for x in agent_pos))
    sim = PassiveSim(objects, {objects[0].name: np.asarray(agent_vel, dtype=float)}, image_size=image_size,
                     markers=task.markers)
    model, data, dt = sim.scene.model, sim.data, sim.scene.model.opt.timestep
    n, step = len(objects), 0
    first_touch = np.full((n, n), -1, dtype=np.int64)
    trajectory = np.empty((frames + 1, n, 13))  # (F+1, N, 13)
    trajectory[0] = sim.states()
    qpos, qvel = data.qpos.reshape(-1, 7), data.qvel.reshape(-1, 6)
    decisive = _decisive_pairs(task) if stop_early else np.empty((0, 2), dtype=np.int64)
    for f in range(frames):
        for _ in range(FRAME_SUBSTEPS):
            mujoco.mj_step(model, data)
            step += 1
            if record:
                sim.recorder.record(data, dt, sim.geom_owner, qpos[:, :3], qvel[:, :3])
            a, b = touching_pairs(sim)
            if len(a):
                fresh = first_touch[a, b] < 0
                first_touch[a[fresh], b[fresh]] = first_touch[b[fresh], a[fresh]] = step
        trajectory[f + 1] = sim.states()
        if on_frame is not None:
            on_frame(sim)
        if len(decisive) and np.any(first_touch[decisive[:, 0], decisive[:, 1]] >= 0):
            trajectory = trajectory[: f + 2]
            break
    states = sim.states()
    success, violations = judge(task, first_touch, states)
    return Outcome(success, first_touch, trajectory[..., :3].copy(), states, violations, sim, trajectory)


def _decisive_pairs(task: PuzzleTask) -> np.ndarray:
    """Object pairs ``(K, 2)`` whose first touch settles the verdict: any forbidden touch fails;
    a touch goal with no forbidden objects succeeds."""
    names = [o.name for o in task.objects]
    pairs = [(names.index(AGENT), names.index(f)) for f in task.goal.forbidden]
    if task.goal.kind == "touch" and not task.goal.forbidden:
        pairs.append((names.index(task.goal.target), names.index(task.goal.other)))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def judge(task: PuzzleTask, first_touch: np.ndarray, final_states: np.ndarray) -> tuple[bool, list[str]]:
    """Decide success from the contacts ``(N, N)`` and final states ``(N, 13)``; also list broken rules."""
    names = [o.name for o in task.objects]
    goal, agent = task.goal, names.index(AGENT)
    violations = [f"{AGENT} touched {name}" for name in goal.forbidden if first_touch[agent, names.index(name)] >= 0]
    k = names.index(goal.target)
    pos = final_states[k, :3]
    if goal.kind == "off":
        reached = pos[2] < goal.below
    elif goal.kind == "zone":
        lying = pos[2] < task.objects[k].half_extents().max() + ON_TABLE_MARGIN
        reached = bool(goal.zone.contains(pos[:2])) and lying
    elif goal.kind == "touch":
        reached = first_touch[k, names.index(goal.other)] >= 0
    else:
        raise ValueError(f"unknown goal kind {goal.kind!r}")
    return bool(reached) and not violations, violations


def contact_events(names: list[str], first_touch: np.ndarray, dt: float) -> list[dict]:
    """``contact`` onset events (one per touching pair, at its first physics step), in time order."""
    i, j = np.nonzero(np.triu(first_touch >= 0, k=1))
    events = [{"type": "contact", "a": names[a], "b": names[b], "t": float(first_touch[a, b] * dt)}
              for a, b in zip(i, j, strict=True)]
    return sorted(events, key=lambda e: (e["t"], e["a"], e["b"]))


def direct_graph(outcome: Outcome) -> nx.DiGraph:
    """The attempt's direct causal graph (contact recorder) plus ``agent -> red_ball`` (the action)."""
    names = outcome.sim.names0
    graph = outcome.sim.recorder.direct_graph(names)
    graph.add_edge("agent", AGENT, weight=1.0, t_first=0, t_last=0, kind="action")
    return graph


class PuzzleFamily:
    """Templates plus the mapping from a normalised action to the red ball's start.

    Subclasses set ``name``, ``action_names``, ``action_low``/``action_high`` (physical units),
    ``templates`` and implement ``agent_start``.
    """

    name: str = ""
    action_names: tuple[str, ...] = ()
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    templates: tuple[Template, ...] = ()

    @property
    def action_dim(self) -> int:
        return len(self.action_names)

    def template(self, name: str | int) -> Template:
        """A template by name or index."""
        if isinstance(name, (int, np.integer)):
            if not 0 <= int(name) < len(self.templates):
                raise ValueError(f"template index must be in [0, {len(self.templates) - 1}], got {name}")
            return self.templates[int(name)]
        for template in self.templates:
            if template.name == name:
                return template
        raise ValueError(f"unknown {self.name} template {name!r}; expected one of "
                         f"{[t.name for t in self.templates]}")

    def make_task(self, template: str | int, seed: int) -> PuzzleTask:
        """Build the task ``(template, seed)``; the same pair always gives the same scene."""
        tpl = self.template(template)
        index = self.templates.index(tpl)
        rng = np.random.default_rng([_family_key(self.name), index, int(seed)])
        objects, markers, goal, instruction, extra = tpl.build(rng, get_space(tpl.space))
        return PuzzleTask(self.name, tpl.name, tpl.split, int(seed), tpl.space, objects, tuple(markers), goal,
                          instruction, extra)

    def physical(self, action) -> np.ndarray:
        """Map a normalised action in ``[-1, 1]^k`` to physical units; raise ``ValueError`` if invalid."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self.action_dim,):
            raise ValueError(f"{self.name} action must have shape ({self.action_dim},) "
                             f"({', '.join(self.action_names)}), got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{self.name} action must be finite, got {a.tolist()}")
        if np.any(np.abs(a) > 1.0):
            bad = [n for n, x in zip(self.action_names, a, strict=True) if abs(x) > 1.0]
            raise ValueError(f"{self.name} action out of bounds: {bad} outside [-1, 1], got {a.tolist()}")
        low, high = np.asarray(self.action_low), np.asarray(self.action_high)
        return low + (a + 1.0) * 0.5 * (high - low)

    def agent_start(self, task: PuzzleTask, physical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The red ball's start position ``(3,)`` and free-joint velocity ``(6,)`` for a physical action."""
        raise NotImplementedError

    def attempt(self, task: PuzzleTask, action, record: bool = False,
                on_frame: Callable[[PassiveSim], None] | None = None, image_size: int = 128,
                stop_early: bool = False) -> Outcome:
        """Simulate one normalised action on ``task`` and judge it (see ``simulate_attempt``)."""
        pos, vel = self.agent_start(task, self.physical(action))
        return simulate_attempt(task, pos, vel, record=record, on_frame=on_frame, image_size=image_size,
                                stop_early=stop_early)

    def idle(self, task: PuzzleTask) -> Outcome:
        """The scene left alone (the red ball stays where it is): a task this solves is trivial."""
        return simulate_attempt(task, np.asarray(task.objects[0].pos), np.zeros(6))


def _family_key(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")


def resting(obj: ObjectSpec, xy, base: float = 0.0) -> ObjectSpec:
    """Put ``obj`` upright at ``xy`` resting on a surface at height ``base`` (1 mm clearance); return it."""
    obj.pos = (float(xy[0]), float(xy[1]), base + obj.half_height + 1e-3)
    return obj


def make_object(name: str, shape: str, color: str, size: tuple[float, ...], rng: np.random.Generator,
                space: PropertySpace, frozen: bool = False, mass: float | None = None) -> ObjectSpec:
    """An object with mass, friction and restitution drawn from ``space`` (mass overridable)."""
    return ObjectSpec(name=name, shape=shape, color=color, size=tuple(float(s) for s in size),
                      mass=space.uniform(rng, "mass") if mass is None else mass,
                      friction=space.uniform(rng, "friction"), restitution=space.uniform(rng, "restitution"),
                      frozen=frozen)
