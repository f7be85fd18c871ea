"""What conditions the world model besides states: the three kinds of action, and the skill encoding.

- ``none``: passive scenarios (the world runs on its own).
- ``vector``: BlockStackLowLevel's 4-vector (gripper dx, dy, dz, grip) per 40 ms step.
- ``skill``: BlockStack's skills (``action_json``), one per step, encoded as a fixed-width
  vector (``encode_skill``): skill one-hot, the object and target as one-hots over the state's
  object rows (the model turns these into per-object role flags, so it stays equivariant to
  object order), a table-target flag, and the skill's numbers scaled to about [-1, 1].

Action t leads from frame t to frame t + 1; a model predicting H future frames takes the H
actions that lead into them, ``(B, H, A)``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch

ACTION_KINDS = ("none", "vector", "skill")
VECTOR_DIM = 4
OBJECT_SLOTS = 6
"""Object rows in a stored state (foretell.envs' observation holds up to 6 objects)."""
SKILL_NAMES = ("pick_place", "push", "declare_infeasible", "noop")
"""``noop``: a step with no skill (a skill the env refused, or padding)."""

# Column layout of an encoded skill (SKILL_DIM wide).
SKILL_ONEHOT = slice(0, 4)
SKILL_OBJECT = slice(4, 4 + OBJECT_SLOTS)
SKILL_TARGET = slice(4 + OBJECT_SLOTS, 4 + 2 * OBJECT_SLOTS)
SKILL_NUMBERS = slice(4 + 2 * OBJECT_SLOTS, 4 + 2 * OBJECT_SLOTS + 6)  # table flag, dx, dy, cos, sin, distance
SKILL_DIM = SKILL_NUMBERS.stop

# The skill schema's ranges (foretell.envs.SKILL_SCHEMA; copied, not imported, so that loading a
# model does not load MuJoCo and every env; a test checks they agree).
PLACE_RANGE = 0.22  # m, |dx| and |dy| bound of pick_place
PUSH_RANGE = 0.25  # m, longest push
# Named push directions in degrees, as the BlockStack env reads them (envs/blockstack/skills.py).
DIRECTIONS = {"+x": 0.0, "+y": 90.0, "-x": 180.0, "-y": 270.0, "right": 90.0, "left": 270.0, "away": 180.0,
               "toward": 0.0}


# Columns of a stored property row that the commanded placement needs (foretell.envs.sim.scene
# PROPERTY_NAMES; copied, a test checks they agree).
BALL_COLUMN = 2
HALF_EXTENT_COLUMNS = slice(7, 10)


def commanded_displacement(last: torch.Tensor, properties: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Where each skill sends each object, as a displacement from its last observed position:
    ``(B, H, N, 3)`` from last states ``(B, N, 13)``, properties ``(B, N, P)`` (or their
    training means where unknown) and encoded skills ``(B, H, SKILL_DIM)``.

    ``pick_place`` puts the object's centre at the target's centre plus (dx, dy) and rests its
    bottom on the target's top (a vertical half-extent from the target's pose and half-extents,
    as ``foretell.envs`` computes tops), or at (dx, dy) on the table; ``push`` moves it by the
    push distance along the push direction. Every other object, and every other skill, stays.
    Over several steps a placement sets the displacement and a push adds to it, every step read
    from the last observed scene (a target that moved in an earlier step is not followed). This is the prior the skill model predicts a residual from
    (``ObjectDiffusionModel(skill_prior=True)``): the learned part is what physics adds to the
    command (falls, topples, slides), and the command itself extrapolates to sizes outside
    training exactly.
    """
    from .geometry import _safe_quat, quat_to_matrix

    b, n = last.shape[:2]
    rows = min(n, OBJECT_SLOTS)
    obj = torch.zeros(*actions.shape[:2], n, device=actions.device)
    tgt = torch.zeros_like(obj)
    obj[..., :rows] = actions[..., SKILL_OBJECT][..., :rows]  # (B, H, N) one-hot
    tgt[..., :rows] = actions[..., SKILL_TARGET][..., :rows]
    onehot, numbers = actions[..., SKILL_ONEHOT], actions[..., SKILL_NUMBERS]
    pick, push = onehot[..., SKILL_NAMES.index("pick_place")], onehot[..., SKILL_NAMES.index("push")]  # (B, H)
    table = numbers[..., 0]
    half = properties[..., HALF_EXTENT_COLUMNS].float()  # (B, N, 3)
    axes_z = quat_to_matrix(_safe_quat(last[..., 3:7].float()))[..., 2, :]  # (B, N, 3): body axes' z parts
    vertical = torch.where(properties[..., BALL_COLUMN] > 0.5, half[..., 0], (axes_z.abs() * half).sum(-1))  # (B, N)
    pos = last[..., :3].float()  # (B, N, 3)
    tgt_pos = torch.einsum("bhn,bnc->bhc", tgt, pos)  # (B, H, 3)
    tgt_top = torch.einsum("bhn,bn->bh", tgt, pos[..., 2] + vertical)
    own_pos = torch.einsum("bhn,bnc->bhc", obj, pos)
    own_half = torch.einsum("bhn,bn->bh", obj, vertical)
    offset = numbers[..., 1:3] * PLACE_RANGE  # (B, H, 2)
    place_xy = offset + (1.0 - table)[..., None] * tgt_pos[..., :2]
    place_z = (1.0 - table) * tgt_top + own_half
    placed = torch.cat([place_xy, place_z[..., None]], dim=-1) - own_pos  # (B, H, 3)
    pushed = torch.cat([numbers[..., 3:5] * (numbers[..., 5:6] * PUSH_RANGE), torch.zeros_like(table)[..., None]], -1)
    out, current = [], torch.zeros_like(pos)  # (B, N, 3): the displacement so far
    for h in range(actions.shape[1]):  # a placement sets the displacement, a push adds to it
        moved = obj[:, h, :, None]  # (B, N, 1)
        set_to = pick[:, h, None, None] * placed[:, h, None, :]
        current = current * (1.0 - moved * pick[:, h, None, None]) + moved * (set_to + push[:, h, None, None]
                                                                               * pushed[:, h, None, :])
        out.append(current)
    return torch.stack(out, dim=1)  # (B, H, N, 3)


def action_dim(kind: str) -> int:
    """Width A of one encoded action of ``kind``."""
    if kind not in ACTION_KINDS:
        raise ValueError(f"unknown action kind {kind!r}; valid: {list(ACTION_KINDS)}")
    return {"none": 0, "vector": VECTOR_DIM, "skill": SKILL_DIM}[kind]


def encode_skill(skill: dict[str, Any] | str | None, object_names: list[str]) -> np.ndarray:
    """One BlockStack action (a skill dict, its JSON text, or None for no skill) as ``(SKILL_DIM,)``.

    Both of the env's action forms are read: names (``{"skill": "push", "object": "red_cube",
    "direction": "left", "distance": 0.05}``) and indices (``{"skill": 1, "object": 0, "target":
    2, "params": [p0, p1, p2]}``, decoded as the env decodes them). Raises ``ValueError`` for an
    unknown skill or object name.
    """
    if isinstance(skill, str):
        skill = json.loads(skill)
    out = np.zeros(SKILL_DIM, dtype=np.float32)
    if not isinstance(skill, dict):  # scenario "no action" steps store 0, or None
        out[SKILL_NAMES.index("noop")] = 1.0
        return out
    name, obj, target, dx, dy, direction, distance = _read_skill(skill, object_names)
    out[SKILL_ONEHOT.start + SKILL_NAMES.index(name)] = 1.0
    numbers = np.zeros(6, dtype=np.float32)
    if obj is not None:
        out[SKILL_OBJECT.start + obj] = 1.0
    if target is not None and target >= 0:
        out[SKILL_TARGET.start + target] = 1.0
    numbers[0] = float(target == -1)
    numbers[1:3] = dx / PLACE_RANGE, dy / PLACE_RANGE
    if direction is not None:
        numbers[3:5] = math.cos(math.radians(direction)), math.sin(math.radians(direction))
        numbers[5] = distance / PUSH_RANGE
    out[SKILL_NUMBERS] = numbers
    return out


def skill_rows(skill: dict[str, Any], names: list[str]) -> tuple[str, int | None, int | None]:
    """A skill's name, object row and target row (-1: the table; None: no object or target), read
    as ``encode_skill`` reads it (names or the env's index form)."""
    name, obj, target, *_ = _read_skill(skill, names)
    return name, obj, target


def _read_skill(skill: dict[str, Any], names: list[str]) -> tuple:
    """(name, object row, target row (-1 table), dx, dy, direction degrees, distance)."""
    raw = skill.get("skill")
    if isinstance(raw, (int, np.integer)):  # the env's index form
        name = SKILL_NAMES[int(raw)] if 0 <= int(raw) < 3 else None
        if name is None:
            raise ValueError(f"skill index {raw} is not one of 0 pick_place, 1 push, 2 declare_infeasible")
        if name == "declare_infeasible":
            return name, None, None, 0.0, 0.0, None, 0.0
        obj, target = int(skill["object"]), int(skill["target"])
        p = np.asarray(skill.get("params", [0.0, 0.0, 0.0]), dtype=float)
        if obj >= len(names):
            return "noop", None, None, 0.0, 0.0, None, 0.0  # the env treats it as a no-op too
        if name == "pick_place":
            return name, obj, target if target < len(names) else -1, 0.2 * p[0], 0.2 * p[1], None, 0.0
        return name, obj, None, 0.0, 0.0, 180.0 * p[0], 0.125 * (p[2] + 1.0)
    if raw == "wait":  # the env's named wait: nothing moves, the scene settles, as after a refused skill
        return "noop", None, None, 0.0, 0.0, None, 0.0
    if raw not in SKILL_NAMES:
        raise ValueError(f"unknown skill {raw!r}; valid skills: {list(SKILL_NAMES[:3])}")
    if raw in ("declare_infeasible", "noop"):
        return raw, None, None, 0.0, 0.0, None, 0.0
    obj = _row(skill.get("object"), names, "object")
    if raw == "pick_place":
        target_name = skill.get("target")
        target = -1 if target_name == "table" else _row(target_name, names, "target")
        return raw, obj, target, float(skill.get("dx", 0.0)), float(skill.get("dy", 0.0)), None, 0.0
    direction = skill.get("direction", 0.0)
    if isinstance(direction, str):
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown push direction {direction!r}; valid: {sorted(DIRECTIONS)} or degrees")
        direction = DIRECTIONS[direction]
    return raw, obj, None, 0.0, 0.0, float(direction), float(skill.get("distance", 0.0))


def _row(name: Any, names: list[str], role: str) -> int:
    if name not in names:
        extra = " or 'table'" if role == "target" else ""
        raise ValueError(f"unknown {role} {name!r}; valid names: {names}{extra}")
    row = names.index(name)
    if row >= OBJECT_SLOTS:
        raise ValueError(f"{role} {name!r} is object row {row}; the model encodes rows 0..{OBJECT_SLOTS - 1}")
    return row
