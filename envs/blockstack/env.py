"""BlockStack: stack mixed-shape objects where physics decides what stands.

``foretell/BlockStack-v0`` (high-level skills, for planners).

Scene: 2-6 objects (cubes, cylinders, balls, plates) on a table, with masses, frictions,
restitutions, sizes, colours and counts from property space A (train) or B (held-out, disjoint;
``envs.sim.properties``). Sometimes two objects start stacked. A mocap gripper weld-grasps objects.

Goal: a conjunction of predicates (``on``, ``on_table``, ``clear``, ``tower_height``; see
``envs.blockstack.goals``), with an English instruction (seeded paraphrase; ``info["instruction_canonical"]``
has the canonical phrasing that ``parse_instruction`` maps back). 15% of goals are physically
infeasible (known by construction: something must rest on a ball); the planner should answer
``declare_infeasible``.

Actions: a ``Dict`` space for learning agents ``{"skill": 0 pick_place | 1 push | 2
declare_infeasible, "object": i, "target": j (j = n_objects or more: the table), "params": [p0, p1,
p2] in [-1, 1]}`` where pick_place uses dx, dy = 0.2*p0, 0.2*p1 and push uses direction
180*p0 degrees and distance 0.125*(p2+1) m. An index naming no object in this episode is a
no-op reported in ``info["skill"]["error"]``. Planners instead pass names: ``{"skill":
"pick_place", "object": "red_cube", "target": "blue_cube", "dx": 0, "dy": 0}`` or ``{"skill":
"push", "object": ..., "direction": 90 | "left", "distance": 0.05}``; an unknown name raises
``ValueError`` listing valid names. ``skill_schema_json()`` exports the schema. A named ``{"skill":
"wait", "seconds": 5}`` (seconds in (0, 10], default 5) moves nothing and simulates until every
object has been still for 1 s or the seconds pass: a controller's "let the scene come to rest
before looking again" after a step that ended with something still moving. It is not a step of
the ``max_steps`` budget (no skill ran) and is not in the index-encoded space.

``reset(options=...)`` accepts ``space`` ("A"/"B": the episode's property space, used by its
sampling, interventions and snapshots), ``objects`` (a list of ``ObjectSpec`` or their dicts, with
positions) and ``goal`` (predicate strings such as ``"on(red_cube, blue_cube)"``).

Every skill parameter is checked before anything moves: a non-finite or out-of-range ``dx``,
``dy``, ``direction`` or ``distance`` raises ``ValueError`` and the scene is untouched. The episode
is truncated after ``max_steps`` steps (50). The shared env contract (snapshots, interventions,
rendering) is ``envs.sim.env_base.ForetellEnv``; rows of per-object arrays follow
``object_names``, fixed at reset (a removed object keeps its row, with ``object_mask`` 0).

Each step runs the skill, then simulates until all objects are still for 1 s (at most 5 s).

Observation (``obs_keys`` selects): ``rgb`` (S, S, 3) uint8 from the front camera, ``depth``
(S, S) float32 metres, ``segmentation`` (S, S) int32 object index or -1, ``state`` (6, 13)
per-object position, quaternion, linear and angular velocity (rows beyond n are zero),
``properties`` (6, 14) static properties (``PROPERTY_NAMES``), ``object_mask`` (6,) int8,
``instruction`` text. Names in ``info["object_names"]``.

Success: goal predicates hold AND every object is still (< 1 cm/s, < 0.1 rad/s) for >= 1 s of
simulated time after the last action; a tower that falls after release is not a success. For
an infeasible goal, success is declaring it infeasible. Reward 1 on success, else 0.

info: ``events`` (grasp/release, falls, contacts with impulses), ``goal_satisfied``,
``predicates`` (each one's truth), ``stable``, ``feasible``, ``success``, ``skill`` (ticks,
timeout), ``object_names``.
"""

from __future__ import annotations

import copy
import dataclasses

import networkx as nx
import numpy as np
from gymnasium import spaces

from ..sim import physics
from ..sim.env_base import ForetellEnv, scene_key
from ..sim.ground_truth import but_for_graph
from ..sim.interventions import intervene_now
from ..sim.observations import IMAGE_KEYS, MAX_OBJECTS, OBJECT_KEYS, observation_space, observe
from ..sim.passive import Rollout
from ..sim.physics import STATE_DIM
from ..sim.scene import WORKSPACE_HALF, ObjectSpec, build_scene
from ..sim.tabletop import TableTop
from .goals import (
    INFEASIBLE_SHARE,
    Goal,
    Predicate,
    evaluate,
    goal_feasibility,
    instruction_text,
    sample_goal,
)
from .scenes import sample_layout, sample_objects
from .skills import MAX_PUSH_DISTANCE, SkillResult, direction_degrees, pick_place, push

OBS_KEYS = (*IMAGE_KEYS, *OBJECT_KEYS, "instruction")
SKILLS = ("pick_place", "push", "declare_infeasible")
TEXT_CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:'_-()")
SETTLE_WINDOW = 1.0
SETTLE_TIMEOUT = 5.0
WAIT = "wait"
"""The named-only skill that lets the scene come to rest (no budget step; module docstring)."""
MAX_WAIT_SECONDS = 10.0


class BlockStackEnv(ForetellEnv):
    __doc__ = __doc__
    family = "blockstack"
    action_kind = "skill"

    def __init__(self, render_mode: str | None = None, space: str = "A", image_size: int = 128,
                 obs_keys: tuple[str, ...] = OBS_KEYS, camera: str = "front", render_size: int = 256,
                 max_steps: int = 50) -> None:
        super().__init__(render_mode=render_mode, space=space, image_size=image_size, obs_keys=obs_keys,
                         valid_keys=OBS_KEYS, camera=camera, render_size=render_size, max_steps=max_steps)
        self.observation_space = observation_space(self.obs_keys, image_size, extra={
            "instruction": spaces.Text(max_length=512, min_length=0, charset=TEXT_CHARSET)})
        self.action_space = self._make_action_space()
        self.tabletop: TableTop | None = None
        self._names0: list[str] = []
        self._removed: dict[str, ObjectSpec] = {}  # specs of objects an intervention removed
        self.goal: Goal | None = None
        self.instruction = ""
        self.instruction_canonical = ""

    def _make_action_space(self) -> spaces.Space:
        return spaces.Dict({"skill": spaces.Discrete(len(SKILLS)), "object": spaces.Discrete(MAX_OBJECTS),
                            "target": spaces.Discrete(MAX_OBJECTS + 1),
                            "params": spaces.Box(-1.0, 1.0, (3,), np.float32)})

    # ------------------------------------------------------------------ properties
    @property
    def object_names(self) -> list[str]:
        return list(self._names0) if self.tabletop else []

    @property
    def objects(self) -> list[ObjectSpec]:
        if self.tabletop is None:
            return []
        by_name = dict(zip(self.tabletop.scene.names, self.tabletop.scene.objects, strict=True))
        return [dataclasses.replace(by_name.get(n) or self._removed[n]) for n in self._names0]

    @property
    def present(self) -> np.ndarray:
        names = set(self.tabletop.scene.names) if self.tabletop else set()
        return np.array([n in names for n in self._names0], dtype=bool)

    @property
    def _started(self) -> bool:
        return self.tabletop is not None

    def _rows(self) -> np.ndarray:
        """Row (index into ``object_names``) of each object of the current scene."""
        return np.array([self._names0.index(n) for n in self.tabletop.scene.names], dtype=int)

    # ------------------------------------------------------------------ reset
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = self._begin_episode(seed, options)
        unknown = sorted(set(options) - {"objects", "goal"})
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; valid: space, objects, goal")
        space, rng = self.space, self.np_random
        want_feasible = bool(rng.random() >= INFEASIBLE_SHARE)
        if "objects" in options:
            objects = [ObjectSpec(**o) if isinstance(o, dict) else dataclasses.replace(o) for o in options["objects"]]
            if not 1 <= len(objects) <= MAX_OBJECTS:
                raise ValueError(f"options['objects'] must hold 1..{MAX_OBJECTS} objects, got {len(objects)}")
            names = [o.name for o in objects]
            if len(set(names)) != len(names):
                raise ValueError(f"options['objects'] has repeated names: {names}")
            # an infeasible goal is one that needs a ball; user scenes without one get feasible goals
            want_feasible = want_feasible or not any(o.shape == "ball" for o in objects)
        else:
            objects = sample_objects(rng, space, need_ball=not want_feasible)
            sample_layout(rng, objects)
        self.tabletop = TableTop(build_scene(objects, image_size=max(self.image_size, self.render_size)))
        self._names0, self._removed = [o.name for o in objects], {}
        self._key = scene_key(objects)
        self.tabletop.settle(window=0.3, timeout=1.0)
        self.tabletop.set_gripper(np.array([0.0, 0.0, 0.3]))
        if "goal" in options:
            self.goal = self._custom_goal(options["goal"], objects)
        else:
            for _ in range(10):  # resample goals that already hold at the start
                self.goal = sample_goal(rng, objects, want_feasible)
                if not self._goal_truth()[0] or not self.goal.feasible:
                    break
        self.instruction_canonical = instruction_text(self.goal)
        self.instruction = instruction_text(self.goal, rng)
        self._actions: list = []  # taken since reset (what counterfactuals replay)
        self.interventions: list[tuple[int, dict]] = []
        self.tabletop.begin_step()
        self._start = self.get_state()
        return self._observation(), self._info(stable=True, success=False, skill=None)

    @staticmethod
    def _custom_goal(goal, objects: list[ObjectSpec]) -> Goal:
        """A user goal: predicate strings (``"on(a, b)"``) or ``Predicate``s, validated against the scene."""
        preds = tuple(p if isinstance(p, Predicate) else Predicate.parse(p) for p in goal)
        names = [o.name for o in objects]
        for p in preds:
            unknown = [a for a in p.args if p.name != "tower_height" and a not in names]
            if unknown:
                raise ValueError(f"goal {p} names unknown object(s) {unknown}; valid names: {names}")
        feasible, reason = goal_feasibility(preds, objects)
        return Goal(preds, "custom", feasible=feasible, needs_physics=not feasible, reason=reason)

    # ------------------------------------------------------------------ step
    def step(self, action):
        if self.tabletop is None:
            raise RuntimeError("call reset() before step()")
        skill, args, error = self._parse_action(action)
        self._actions.append(copy.deepcopy(action))
        tt = self.tabletop
        tt.begin_step()
        if skill == WAIT:
            stable, _ = tt.settle(window=SETTLE_WINDOW, timeout=args[0])
            satisfied, _ = self._goal_truth()
            success = bool(self.goal.feasible and satisfied and stable)
            info = self._info(stable=stable, success=success, skill=SkillResult(WAIT, timeout=not stable))
            return self._observation(), float(success), success, False, info
        if skill == "declare_infeasible":
            success = not self.goal.feasible
            self._count_step(True)
            info = self._info(stable=True, success=success, skill=SkillResult("declare_infeasible"))
            return self._observation(), float(success), True, False, info
        result = SkillResult(skill or "noop", error=error)
        if skill == "pick_place":
            result = pick_place(tt, *args, rng=self.np_random)
        elif skill == "push":
            result = push(tt, *args)
        stable, _ = tt.settle(window=SETTLE_WINDOW, timeout=SETTLE_TIMEOUT)
        result.timeout = result.timeout or not stable
        satisfied, _ = self._goal_truth()
        success = bool(self.goal.feasible and satisfied and stable)
        truncated = self._count_step(success)
        info = self._info(stable=stable, success=success, skill=result)
        return self._observation(), float(success), success, truncated, info

    def _parse_action(self, action) -> tuple[str | None, tuple, str]:
        """Map an index-encoded or name-encoded action to (skill, skill args, error); every number is
        checked here, before anything moves. Object indices are rows of ``object_names``."""
        names = self.tabletop.scene.names
        if isinstance(action, dict) and isinstance(action.get("skill"), str):
            return self._parse_named(action, names)
        if not isinstance(action, dict) or not {"skill", "object", "target", "params"} <= set(action):
            raise ValueError(f"an action is a dict with skill, object, target and params (or a named skill), "
                             f"got {action!r}")
        skill = SKILLS[_index_in(action["skill"], len(SKILLS), "skill")]
        if skill == "declare_infeasible":
            return skill, (), ""
        p = np.asarray(action["params"], dtype=float)
        if p.shape != (3,) or not np.all(np.isfinite(p)) or np.any(np.abs(p) > 1.0):
            raise ValueError(f"params must be 3 finite numbers in [-1, 1], got {action['params']!r}")
        row, target_row = _index_in(action["object"], MAX_OBJECTS, "object"), _index_in(
            action["target"], MAX_OBJECTS + 1, "target")
        rows = list(self._names0)
        if row >= len(rows) or rows[row] not in names:
            return None, (), f"object index {row} names no object in the scene (this episode has {len(rows)})"
        obj = names.index(rows[row])
        if skill == "pick_place":
            if target_row == row:
                return None, (), "cannot place an object on itself"
            if target_row < len(rows) and rows[target_row] not in names:
                return None, (), f"target index {target_row} names an object that was removed"
            target = names.index(rows[target_row]) if target_row < len(rows) else -1
            return skill, (obj, target, 0.2 * p[0], 0.2 * p[1]), ""
        return skill, (obj, 180.0 * p[0], 0.125 * (p[2] + 1.0)), ""

    def _parse_named(self, action: dict, names: list[str]) -> tuple[str, tuple, str]:
        skill = action["skill"]
        if skill not in (*SKILLS, WAIT):
            raise ValueError(f"unknown skill {skill!r}; valid skills: {[*SKILLS, WAIT]}")
        if skill == "declare_infeasible":
            return skill, (), ""
        if skill == WAIT:
            seconds = _number(action, "seconds", 0.0, MAX_WAIT_SECONDS, SETTLE_TIMEOUT)
            if seconds <= 0.0:
                raise ValueError(f"wait seconds must be > 0, got {action.get('seconds')!r}")
            return skill, (seconds,), ""
        obj = self._index(action.get("object"), names, "object")
        if skill == "pick_place":
            target_name = action.get("target")
            target = -1 if target_name == "table" else self._index(target_name, names, "target")
            if target == obj:
                raise ValueError(f"cannot place {names[obj]} on itself")
            dx, dy = (_number(action, k, -WORKSPACE_HALF, WORKSPACE_HALF, 0.0) for k in ("dx", "dy"))
            return skill, (obj, target, dx, dy), ""
        if "direction" not in action or "distance" not in action:
            raise ValueError("push needs 'direction' and 'distance'")
        direction = action["direction"]
        degrees = direction_degrees(direction)
        if not np.isfinite(degrees):
            raise ValueError(f"push direction must be finite degrees or a direction word, got {direction!r}")
        return skill, (obj, direction, _number(action, "distance", 0.0, MAX_PUSH_DISTANCE)), ""

    @staticmethod
    def _index(name, names: list[str], role: str) -> int:
        if name not in names:
            extra = " or 'table'" if role == "target" else ""
            raise ValueError(f"unknown {role} {name!r}; valid names: {names}{extra}")
        return names.index(name)

    # ------------------------------------------------------------------ read-outs
    def _goal_truth(self) -> tuple[bool, dict[str, bool]]:
        on, on_table = physics.support_matrix(self.tabletop.scene, self.tabletop.data)
        truth = evaluate(self.goal, list(self.tabletop.scene.names), on, on_table)
        return all(truth.values()), truth


    def _observation(self) -> dict:
        tt = self.tabletop
        states = np.zeros((len(self._names0), STATE_DIM))
        states[self._rows()] = physics.object_states(tt.scene, tt.data)
        obs = observe(self.obs_keys, self._image_renderer, tt.data, self.camera, states, self.objects, self.present)
        if "instruction" in self.obs_keys:
            obs["instruction"] = self.instruction
        return obs

    def _info(self, stable: bool, success: bool, skill: SkillResult | None) -> dict:
        satisfied, truth = self._goal_truth()
        return {"events": self.tabletop.step_events(), "goal_satisfied": satisfied, "predicates": truth,
                "stable": stable, "feasible": self.goal.feasible, "success": success,
                "skill": skill.to_dict() if skill else None, "object_names": self.object_names,
                "goal": self.goal.to_dict(), "instruction_canonical": self.instruction_canonical,
                "time": self.tabletop.time}

    # ------------------------------------------------------------------ interventions
    def intervene(self, changes: dict) -> None:
        """do()-interventions between steps (see ``envs.sim.interventions``): mass, friction,
        restitution, size, position, orientation, velocity, remove, freeze. Objects the goal names
        cannot be removed. The episode continues from the current state; a held object stays held."""
        if self.tabletop is None:
            raise RuntimeError("call reset() before intervene()")
        removed = sorted(n for n, v in changes.items() if "." not in n and v == "remove" and n in self._goal_objects)
        if removed:
            raise ValueError(f"cannot remove {removed}: the goal names them")
        tt = self.tabletop
        scene, data, plan = intervene_now(tt.scene, tt.data, changes, self.space,
                                          max(self.image_size, self.render_size))
        for name in plan.removed:
            self._removed[name] = dataclasses.replace(tt.scene.objects[tt.scene.names.index(name)])
        self.tabletop = TableTop(scene, data)
        self.tabletop.carry_over(tt)
        self.interventions.append((self.elapsed_steps, dict(changes)))

    # ------------------------------------------------------------------ state, rendering
    def _episode_key(self) -> str:
        return self._key

    def _get_state(self) -> dict:
        return {"tabletop": self.tabletop.get_state(), "scene_objects": [dataclasses.replace(o) for o in self.objects
                                                                         if o.name in self.tabletop.scene.names],
                "removed": copy.deepcopy(self._removed), "interventions": copy.deepcopy(self.interventions),
                "actions": copy.deepcopy(self._actions)}

    def _set_state(self, state: dict) -> None:
        if state["tabletop"].get("fingerprint") != self.tabletop.fingerprint():  # an intervention came between
            old = self.tabletop
            self.tabletop = TableTop(build_scene([dataclasses.replace(o) for o in state["scene_objects"]],
                                                 image_size=max(self.image_size, self.render_size)))
            self.tabletop.frame_callback = old.frame_callback
        self.tabletop.set_state(state["tabletop"])
        self._removed = copy.deepcopy(state["removed"])
        self.interventions = copy.deepcopy(state["interventions"])
        self._actions = copy.deepcopy(state["actions"])

    # ------------------------------------------------------------------ counterfactuals and ground truth
    def counterfactual(self, changes: dict, actions: list | None = None, state: dict | None = None) -> Rollout:
        """Replay under ``changes``: from ``state`` (a ``get_state()`` of this episode; default its
        start) apply the interventions, then take ``actions`` (default: the actions this episode
        took since its start; required with ``state``). The env is left exactly as it was.

        Returns:
            ``Rollout`` with positions ``(T+1, N, 3)``: the start, then after each step (once the
            scene settled), rows in ``object_names`` order (NaN for removed objects), and the
            steps' contact events in ``events``.
        """
        if state is not None and actions is None:
            raise ValueError("counterfactual from a state needs the actions to take from it")
        actions = copy.deepcopy(self._actions if actions is None else actions)
        saved = self.get_state()
        frames, self.tabletop.frame_callback = self.tabletop.frame_callback, None  # a replay records no video
        try:
            self.set_state(self._start if state is None else state)
            if changes:
                self.intervene(changes)
            positions, events = [self._positions()], []
            for action in actions:
                *_, info = self.step(action)
                positions.append(self._positions())
                events.append(info["events"])
                if info["success"] or info["skill"] and info["skill"]["name"] == "declare_infeasible":
                    break
            return Rollout(self.object_names, np.array(positions), np.zeros(len(self._names0), dtype=bool), None,
                           events=events)
        finally:
            self.set_state(saved)
            self.tabletop.frame_callback = frames

    @property
    def _goal_objects(self) -> set[str]:
        """Objects the goal names (they cannot be removed)."""
        return {a for p in self.goal.predicates for a in p.args if isinstance(a, str)}

    def _positions(self) -> np.ndarray:
        rows = np.full((len(self._names0), 3), np.nan)
        rows[self._rows()] = physics.object_states(self.tabletop.scene, self.tabletop.data)[:, :3]
        return rows

    def ground_truth(self, but_for: bool = True) -> dict:
        """Causal graphs of the episode so far, from its start (interventions made during it are
        not replayed). ``total_effect``: but-for by replay, one re-run per object without it (the
        actions that name it dropped) and one without any action for ``agent`` (the gripper); v is
        affected if any per-step position deviates beyond the tolerance. Objects the goal names
        cannot be removed (the goal needs them), so their effects are not computed
        (``graph.graph["skipped"]``). ``contacts``: the undirected graph of contacts that began during a step
        (weight: impulse, N s) and of grasps, the gripper as ``agent``. Costs N + 1 replays of the episode."""
        factual = self.counterfactual({})
        contacts = nx.Graph(kind="contacts")
        contacts.add_nodes_from(["agent", *self.object_names])
        for step, step_events in enumerate(factual.events):
            for e in step_events:
                if e["type"] == "grasp" and not contacts.has_edge("agent", e["object"]):
                    contacts.add_edge("agent", e["object"], weight=0.0, step=step)
                if e["type"] == "contact" and e["new"] and "table" not in (e["a"], e["b"]):
                    a, b = ("agent" if n == "gripper" else n for n in (e["a"], e["b"]))
                    weight = contacts.edges[a, b]["weight"] if contacts.has_edge(a, b) else 0.0
                    contacts.add_edge(a, b, weight=weight + e["impulse"], step=contacts.edges[a, b]["step"]
                                      if contacts.has_edge(a, b) else step)
        result = {"contacts": contacts, "factual": factual}
        if but_for:
            names = ["agent", *self.object_names]
            start = factual.positions[:1]
            base = np.concatenate([np.zeros((len(factual.positions), 1, 3)), factual.positions], axis=1)

            def without(name: str) -> tuple[np.ndarray, np.ndarray]:
                if name == "agent":
                    rows = np.repeat(start, len(factual.positions), axis=0)
                else:
                    actions = [a for a in self._actions if not _names_object(a, name, self.object_names)]
                    if name in self._goal_objects:  # see the docstring: not computed
                        return base, np.zeros(len(names), dtype=bool)
                    rows = self.counterfactual({name: "remove"}, actions).positions
                    rows = np.concatenate([rows, np.repeat(rows[-1:], len(factual.positions) - len(rows), axis=0)])
                    rows = np.where(np.isnan(rows), factual.positions, rows)
                return np.concatenate([np.zeros((len(rows), 1, 3)), rows], axis=1), np.zeros(len(names), dtype=bool)

            total = but_for_graph(names, base, without)
            total.graph["skipped"] = sorted(self._goal_objects)
            result["total_effect"] = total
        return result

    def _render_source(self) -> tuple:
        scene = self.tabletop.scene
        rows = self._rows()
        geom_to_row = np.where(scene.geom_to_object >= 0, rows[np.maximum(scene.geom_to_object, 0)], -1)
        return scene.model, self.tabletop.data, geom_to_row

    def record_frames(self, frames: list | None) -> None:
        """Append a frame to ``frames`` every 40 ms of simulated time, during skills too (None stops)."""
        self.tabletop.frame_callback = None if frames is None else (lambda: frames.append(self.snapshot_frame()))

    def close(self) -> None:
        super().close()
        self.tabletop = None


def _names_object(action, name: str, rows: list[str]) -> bool:
    """Does a (named or index-encoded) action use object ``name``?"""
    if isinstance(action, dict) and isinstance(action.get("skill"), str):
        return name in (action.get("object"), action.get("target"))
    row = rows.index(name)
    return isinstance(action, dict) and row in (int(np.asarray(action.get("object", -1))),
                                                int(np.asarray(action.get("target", -1))))


def _index_in(value, size: int, role: str) -> int:
    """An integer index in [0, size) for the index-encoded action's ``role`` field."""
    index = int(np.asarray(value).item()) if np.ndim(value) == 0 else -1
    if not 0 <= index < size:
        raise ValueError(f"action {role} must be an integer in [0, {size - 1}], got {value!r}")
    return index


def _number(action: dict, key: str, low: float, high: float, default: float | None = None) -> float:
    """``action[key]`` as a finite float in [low, high] (``default`` when absent), else ``ValueError``."""
    value = action.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{action.get('skill')} {key} must be a number, got {value!r}") from None
    if not (np.isfinite(number) and low <= number <= high):
        raise ValueError(f"{action.get('skill')} {key}={value!r} is out of range; allowed [{low}, {high}]")
    return number
