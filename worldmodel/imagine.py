"""``imagine``: the planner's call. C candidate plans x S sampled futures, batched, with read-outs.

A skill model (``action_kind="skill"``, trained on BlockStack datasets: one frame per skill, the
state after the skill and the settling) predicts H frames per call, so one call advances every
plan by H skills. All C plans x S samples are one model batch per call; every call feeds each
sample's own predicted states back as its next history (sampled futures, not the mean), so the
S samples are S whole rollouts. A plan shorter than the longest, and ``declare_infeasible``,
leave the scene as it is: the states are carried over unchanged (no motion) and the model's
prediction for those steps is discarded.

A passive model (``action_kind="none"``) rolls the scene forward ``steps`` frames, chaining
``horizon``-frame chunks the same way (``plans=None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .actions import DIRECTIONS, PLACE_RANGE, PUSH_RANGE, SKILL_NAMES, SKILL_ONEHOT, encode_skill
from .ensemble import ModelEnsemble
from .object_diffusion import ObjectDiffusionModel
from .readouts import (
    as_numpy,
    breaks,
    falls,
    final_positions,
    goal_stable,
    goal_truth,
    p_contact,
    p_goal_stable,
    predicates,
    still,
    support,
)

STATE_DIM = 13


@dataclass
class SceneState:
    """What the planner observed, and what the read-outs need to know about the objects.

    Attributes:
        states: ``(K, N, 13)`` the last K object states, oldest first (K >= 1; fewer than the
            model's history are padded by repeating the first).
        mask: ``(N,)`` bool, which rows are objects.
        properties: ``(N, P)`` perceived static properties, or None (unknown).
        object_names: name of each row.
        objects: ``ObjectSpec`` of each row (geometry for the predicates, fragility for breaks).
    """

    states: np.ndarray
    mask: np.ndarray
    properties: np.ndarray | None
    object_names: list[str]
    objects: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.states = np.asarray(self.states, dtype=np.float32)
        if self.states.ndim == 2:
            self.states = self.states[None]
        n = len(self.object_names)
        if self.states.ndim != 3 or self.states.shape[1:] != (n, STATE_DIM) or len(self.states) < 1:
            raise ValueError(f"states must be (K, N={n}, {STATE_DIM}) with K >= 1, got {self.states.shape}")
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.mask.shape != (n,) or not self.mask.any():
            raise ValueError(f"mask must be (N={n},) bool with at least one object, got {self.mask.shape}")
        if len(self.objects) != n:
            raise ValueError(f"objects must hold one ObjectSpec per row ({n}), got {len(self.objects)}")
        if self.properties is not None:
            self.properties = np.asarray(self.properties, dtype=np.float32)
            if self.properties.ndim != 2 or self.properties.shape[0] != n:
                raise ValueError(f"properties must be (N={n}, P) or None, got {self.properties.shape}")

    @classmethod
    def from_env(cls, env, history: list[np.ndarray] | None = None, known_properties: bool = True) -> SceneState:
        """The current scene of a BlockStack env (``env.unwrapped``): states in ``object_names``
        order, the present mask, and each object's property vector (None with
        ``known_properties=False``). ``history``: earlier ``(N, 13)`` states, oldest first."""
        from foretell.envs.sim import physics  # here: importing the envs loads MuJoCo

        base = env.unwrapped
        tt = getattr(base, "tabletop", None)
        if tt is None:
            raise ValueError("from_env needs a BlockStack env that has been reset (it has no tabletop yet)")
        names = list(base.object_names)
        states = np.zeros((len(names), STATE_DIM), dtype=np.float32)
        rows = [names.index(n) for n in tt.scene.names]
        states[rows] = physics.object_states(tt.scene, tt.data)
        objects = base.objects
        props = np.stack([o.property_vector() for o in objects]).astype(np.float32) if known_properties else None
        stack = np.stack([*(np.asarray(h, dtype=np.float32) for h in (history or [])), states])
        return cls(stack, base.present, props, names, objects)


@dataclass
class Imagined:
    """Imagined futures of C plans: ``states (C, S, T, N, 13)`` after each of T steps (steps past
    a plan's end repeat its last state), ``lengths (C,)`` steps per plan, the scene they started
    from, and the height each placed object was put down at (``drop_z (C, T, N)``, NaN where
    none: the fall read-out judges a placed object from there, as the env does at release)."""

    states: torch.Tensor
    lengths: torch.Tensor
    scene: SceneState
    drop_z: np.ndarray | None = None
    plans: list | None = None

    @property
    def _mask(self) -> np.ndarray:
        return self.scene.mask

    def final_states(self) -> np.ndarray:
        """``(C, S, N, 13)`` at each plan's end (the start state for an empty plan)."""
        states = as_numpy(self.states)
        if states.shape[2] == 0:
            return np.broadcast_to(self.scene.states[-1], (*states.shape[:2], *states.shape[3:])).copy()
        last = np.clip(self.lengths.numpy() - 1, 0, None)
        out = states[np.arange(len(last)), :, last]  # (C, S, N, 13)
        empty = self.lengths.numpy() == 0
        out[empty] = self.scene.states[-1]
        return out

    def p_goal_stable(self, goal, tolerance: float | None = None) -> np.ndarray:
        """p(goal holds and the scene is still) at each plan's end ``(C,)``; ``tolerance``: the
        touching gap of the support read-out (None: 5 mm; ``skills.SKILL_TOLERANCE`` is the one
        chosen on validation data for the skill model's predictions)."""
        return p_goal_stable(self.final_states(), goal, self.scene.objects, self._mask, tolerance)

    def p_step_ok(self, goal=None) -> np.ndarray:
        """``(C, T)``: p(nothing falls during step t); with ``goal``, p(goal holds and the scene is
        still after step t). Steps past a plan's end hold its end value."""
        if goal is not None:
            ok = goal_stable(self.states, goal, self.scene.objects, self._mask).mean(axis=1)
        else:
            ok = 1.0 - self._step_falls().any(axis=-1).mean(axis=1)  # (C, T)
        t = np.arange(ok.shape[1])
        upto = np.minimum(t[None, :], np.maximum(self.lengths.numpy()[:, None] - 1, 0))  # (C, T)
        return np.take_along_axis(ok, upto, axis=1)

    def _step_falls(self) -> np.ndarray:
        """``(C, S, T, N)`` bool: object falls during step t (judged from the state before it)."""
        states = as_numpy(self.states)  # (C, S, T, N, 13)
        start = np.broadcast_to(self.scene.states[-1], (*states.shape[:2], 1, *states.shape[3:]))
        before = np.concatenate([start, states[:, :, :-1]], axis=2)  # (C, S, T, N, 13)
        drop_z = None
        if self.drop_z is not None:
            drop_z = np.where(np.isnan(self.drop_z)[:, None], before[..., 2], self.drop_z[:, None])
        fell = falls(states[..., None, :, :], self.scene.objects, before, drop_z)  # (C, S, T, N)
        return fell & self._mask

    def p_fall(self, name: str | None = None) -> np.ndarray:
        """p(object falls during the plan): ``(C,)`` for ``name``, else ``(C, N)``."""
        fell = self._step_falls().any(axis=2).mean(axis=1)  # (C, N)
        return fell if name is None else fell[:, self._row(name)]

    def p_contact(self, a: str, b: str) -> np.ndarray:
        """p(a and b touch at some step of the plan) ``(C,)``."""
        return p_contact(self.states, self.scene.objects, a, b)

    def p_broken(self, name: str | None = None) -> np.ndarray:
        """p(fragile object breaks during the plan): ``(C,)`` for ``name``, else ``(C, N)``."""
        broke = breaks(self.states, self.scene.objects, self.scene.states[-1]).mean(axis=1)
        return broke if name is None else broke[:, self._row(name)]

    def final_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over samples of each object's position at each plan's end
        ``(C, N, 3)``."""
        return final_positions(self.final_states()[:, :, None])

    def _row(self, name: str) -> int:
        if name not in self.scene.object_names:
            raise ValueError(f"unknown object {name!r}; valid names: {self.scene.object_names}")
        return self.scene.object_names.index(name)

    def describe_failure(self, c: int, goal) -> str:
        """Words for the planner's LLM on why plan ``c`` may fail: the likeliest fall (off what the
        plan put it on, or what it rested on), the goal conditions that likely fail, whether the
        scene is still moving, and p(success)."""
        if not 0 <= c < len(self.lengths):
            raise ValueError(f"plan index c must be in [0, {len(self.lengths) - 1}], got {c}")
        names, objects = self.scene.object_names, self.scene.objects
        parts = []
        fall = self.p_fall()[c]  # (N,)
        k = int(np.argmax(fall))
        if fall[k] >= 0.25:
            parts.append(f"the world model predicts {names[k]} falls{self._fell_off(c, k)} (p = {fall[k]:.2f})")
        final = self.final_states()[c]  # (S, N, 13)
        on, on_table = support(final, objects, self._mask)
        unmet = []
        for p in predicates(goal):
            truth = float(goal_truth([p], names, on, on_table).mean())
            if truth < 0.5:
                unmet.append(f"{p} (p = {truth:.2f})")
        if unmet:
            parts.append("after the plan these goal conditions likely fail: " + ", ".join(unmet))
        moving = 1.0 - float(still(final, self._mask).mean())
        if moving >= 0.25:
            parts.append(f"the scene is likely still moving at the end (p = {moving:.2f})")
        p_ok = float(self.p_goal_stable(goal)[c])
        if not parts:
            return f"the world model predicts the plan succeeds (p = {p_ok:.2f})"
        return "; ".join(parts) + f"; p(goal holds and stable) = {p_ok:.2f}"

    def _fell_off(self, c: int, k: int) -> str:
        """" off X": the last thing plan ``c`` put object ``k`` on, else what it rested on at the start."""
        names = self.scene.object_names
        for action in reversed(self.plans[c] if self.plans is not None else []):
            if action.get("skill") == "pick_place" and action.get("object") == names[k]:
                return "" if action.get("target") == "table" else f" off {action['target']}"
        on, _ = support(self.scene.states[-1], self.scene.objects, self._mask)
        below = np.flatnonzero(on[k])
        return f" off {names[below[0]]}" if len(below) else ""


def _check_skill(action: dict, names: list[str], c: int, t: int) -> None:
    """The env's checks of a named skill (``BlockStackEnv._parse_named``), before any imagining."""
    where = f"plan {c} step {t}"
    if not isinstance(action, dict):
        raise ValueError(f"{where}: a skill is a dict, got {action!r}")
    skill = action.get("skill")
    if skill not in ("pick_place", "push", "declare_infeasible"):
        raise ValueError(f"{where}: unknown skill {skill!r}; valid: pick_place, push, declare_infeasible")
    if skill == "declare_infeasible":
        return
    if action.get("object") not in names:
        raise ValueError(f"{where}: unknown object {action.get('object')!r}; valid names: {names}")
    if skill == "pick_place":
        target = action.get("target")
        if target != "table" and target not in names:
            raise ValueError(f"{where}: unknown target {target!r}; valid names: {names} or 'table'")
        if target == action["object"]:
            raise ValueError(f"{where}: cannot place {target} on itself")
        for key in ("dx", "dy"):
            value = float(action.get(key, 0.0))
            if not (np.isfinite(value) and abs(value) <= PLACE_RANGE):
                raise ValueError(f"{where}: {key}={action.get(key)!r} is out of range; allowed "
                                 f"[{-PLACE_RANGE}, {PLACE_RANGE}]")
        return
    direction, distance = action.get("direction"), action.get("distance")
    if isinstance(direction, str) and direction not in DIRECTIONS:
        try:
            float(direction)
        except ValueError:
            raise ValueError(f"{where}: unknown push direction {direction!r}; use degrees or one of "
                             f"{sorted(DIRECTIONS)}") from None
    if distance is None or not 0.0 <= float(distance) <= PUSH_RANGE:
        raise ValueError(f"{where}: push distance={distance!r} is out of range; allowed [0, {PUSH_RANGE}]")


def _encode_plans(plans: Sequence[Sequence[dict]], scene: SceneState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plans -> ``actions (C, T, A)``, ``moves (C, T)`` bool (the step runs a physical skill),
    ``placed (C, T)`` int (row a pick_place puts down, -1 none) and its target row (-1 table)."""
    names = scene.object_names
    c, t = len(plans), max((len(p) for p in plans), default=0)
    encoded = np.zeros((c, t, len(encode_skill(None, names))), dtype=np.float32)
    moves = np.zeros((c, t), dtype=bool)
    placed = np.full((c, t, 2), -1, dtype=np.int64)
    for i, plan in enumerate(plans):
        if isinstance(plan, (str, dict)):
            raise ValueError(f"plan {i} must be a list of skill dicts, got {type(plan).__name__}")
        for j, action in enumerate(plan):
            _check_skill(action, names, i, j)
            encoded[i, j] = encode_skill(action, names)
            moves[i, j] = action["skill"] != "declare_infeasible"
            if action["skill"] == "pick_place":
                target = action["target"]
                placed[i, j] = names.index(action["object"]), -1 if target == "table" else names.index(target)
        encoded[i, len(plan):] = encode_skill(None, names)
    return encoded, moves, placed


@torch.no_grad()
def imagine(model: ObjectDiffusionModel | ModelEnsemble, scene: SceneState, plans: Sequence[Sequence[dict]] | None,
            num_samples: int = 8, generator: torch.Generator | None = None, num_steps: int = 4,
            steps: int | None = None) -> Imagined:
    """Imagine S futures of each of C candidate plans from ``scene``, in one model batch per call.

    Args:
        model: a skill model (``action_kind="skill"``) for plans, or a passive model with
            ``plans=None`` and ``steps``; or a ``ModelEnsemble`` of either, whose every member
            imagines ``num_samples`` futures (pooled: S x M samples per plan, member by member).
        scene: the observed scene (``SceneState``).
        plans: C plans, each a list of named skills (``{"skill": "pick_place", "object":
            "red_cube", "target": "blue_cube", "dx": 0, "dy": 0}``, as the env takes them).
        num_samples: S futures per plan (per member of an ensemble).
        generator: source of every random draw (same generator state, same futures).
        num_steps: diffusion sampling steps per model call.
        steps: passive models only: frames to roll forward (T).

    Returns:
        ``Imagined`` with ``states (C, S, T, N, 13)`` (C = 1 for a passive roll-out; S x M samples
        for an ensemble of M, member 0's first).

    Raises:
        ValueError: an unknown skill, object or target name, a parameter out of the skill
            schema's range, a passive model given plans or a skill model without them.
    """
    kind = model.config.action_kind
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if kind == "skill":
        if plans is None or steps is not None:
            raise ValueError("a skill model imagines plans: pass plans (lists of skills) and no steps")
        if len(plans) == 0:
            raise ValueError("plans is empty; pass at least one plan")
        actions, moves, placed = _encode_plans(plans, scene)
        lengths = torch.tensor([len(p) for p in plans])
    elif kind == "none":
        if plans is not None or steps is None or steps < 1:
            raise ValueError(f"a passive model rolls the scene forward: pass plans=None and steps >= 1, "
                             f"got plans={'given' if plans is not None else None}, steps={steps}")
        actions, moves, placed = None, np.ones((1, steps), dtype=bool), np.full((1, steps, 2), -1)
        lengths = torch.tensor([steps])
    else:
        raise ValueError(f"imagine reads skill and passive models; this model's action_kind is {kind!r}")
    members = model.members if isinstance(model, ModelEnsemble) else [model]
    states = torch.cat([_rollout(m, scene, actions, moves, num_samples, generator, num_steps) for m in members], dim=1)
    return Imagined(states, lengths, scene, _drop_heights(scene, placed),
                    None if plans is None else [list(p) for p in plans])


def _rollout(model: ObjectDiffusionModel, scene: SceneState, actions: np.ndarray | None, moves: np.ndarray,
             num_samples: int, generator: torch.Generator | None, num_steps: int) -> torch.Tensor:
    """Chain model calls: ``(C, S, T, N, 13)``; steps that do not move copy the state before."""
    k, h = model.config.history, model.config.horizon
    c, t = moves.shape
    s, n = num_samples, scene.states.shape[1]
    b = c * s
    start = torch.from_numpy(scene.states[-k:])
    if len(start) < k:  # pad by repeating the oldest state
        start = torch.cat([start[:1].expand(k - len(start), n, STATE_DIM), start])
    history = start[None].expand(b, k, n, STATE_DIM).contiguous()  # (C*S, K, N, 13)
    mask = torch.from_numpy(scene.mask)[None].expand(b, n)
    props = None if scene.properties is None else torch.from_numpy(scene.properties)[None].expand(b, n, -1)
    moving = torch.from_numpy(np.repeat(moves, s, axis=0))  # (C*S, T)
    out = []
    for t0 in range(0, t, h):
        acts = None
        if actions is not None:
            chunk = np.zeros((c, h, actions.shape[-1]), dtype=np.float32)
            part = actions[:, t0:t0 + h]
            chunk[:, :part.shape[1]] = part
            chunk[:, part.shape[1]:] = _noop_row(actions.shape[-1])
            acts = torch.from_numpy(np.repeat(chunk, s, axis=0))  # (C*S, H, A)
        if not moving[:, t0:t0 + h].any():  # nothing moves in this chunk: no model call
            future = history[:, -1:].expand(b, h, n, STATE_DIM)
        else:
            future = model.sample(history, props, mask, acts, 1, num_steps, generator)[:, 0].cpu()  # (C*S, H, N, 13)
        kept, prev = [], history[:, -1]
        for j in range(min(h, t - t0)):  # carry the state over where the step does not move
            prev = torch.where(moving[:, t0 + j, None, None], future[:, j], prev)
            kept.append(prev)
        chunk_states = torch.stack(kept, dim=1)  # (C*S, h', N, 13)
        out.append(chunk_states)
        history = torch.cat([history, chunk_states], dim=1)[:, -k:]
    states = torch.cat(out, dim=1) if out else torch.zeros(b, 0, n, STATE_DIM)
    states = states * torch.from_numpy(scene.mask)[None, None, :, None]
    return states.view(c, s, t, n, STATE_DIM)


def _noop_row(width: int) -> np.ndarray:
    row = np.zeros(width, dtype=np.float32)
    row[SKILL_ONEHOT.start + SKILL_NAMES.index("noop")] = 1.0
    return row


def _drop_heights(scene: SceneState, placed: np.ndarray) -> np.ndarray | None:
    """``(C, T, N)`` height each pick_place puts its object down at (NaN elsewhere): the target's
    upright top where it was observed (the table: 0) plus the object's half-height. A target that
    moved before the step makes this reference coarse; the fall margin (at least 1.5 cm) absorbs
    millimetres, not a toppled target."""
    if (placed[..., 0] < 0).all():
        return None
    last = scene.states[-1].astype(np.float64)
    half_h = np.array([o.half_height for o in scene.objects])
    tops = last[:, 2] + half_h  # (N,)
    c, t, _ = placed.shape
    out = np.full((c, t, len(scene.objects)), np.nan)
    ci, ti = np.nonzero(placed[..., 0] >= 0)
    obj, target = placed[ci, ti, 0], placed[ci, ti, 1]
    out[ci, ti, obj] = np.where(target >= 0, tops[np.maximum(target, 0)], 0.0) + half_h[obj]
    return out
