"""High-level skills for planners: ``pick_place`` and ``push``, run as gripper trajectories.

Each skill drives the mocap gripper through waypoints at bounded speed, one 40 ms control tick
at a time, and returns a ``SkillResult``; the env then lets the scene settle. Skills never
teleport objects: what happens to the scene is the physics of the motion.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from ..sim import physics
from ..sim.scene import PUSHER_RADIUS, WORKSPACE_HALF
from ..sim.tabletop import TableTop

FREE_SPEED = 0.5  # m/s, gripper moving empty
CARRY_SPEED = 0.3  # m/s, gripper carrying an object
APPROACH_SPEED = 0.06  # m/s, last centimetres before grasping or placing
PUSH_SPEED = 0.12  # m/s
APPROACH_GAP = 0.03  # m, height above a grasp/place point where the slow approach begins
PLACE_CLEARANCE = 0.002  # m, gap left under a placed object when the guarded move sees no contact
MAX_PUSH_DISTANCE = 0.25
PLACE_ERROR = (0.0015, 0.003)  # m, range of the placement error's magnitude (random direction), like a real arm

DIRECTIONS = {"+x": 0.0, "+y": 90.0, "-x": 180.0, "-y": 270.0,
              # seen from the front camera (which looks along -x, with +y to its right)
              "right": 90.0, "left": 270.0, "away": 180.0, "toward": 0.0}

SKILL_SCHEMA: dict = {
    "pick_place": {
        "description": "Grasp an object from above, carry it and lower it until it touches down, then release. "
                       f"Placement error: {PLACE_ERROR[0] * 1000:.1f}-{PLACE_ERROR[1] * 1000:.1f} mm.",
        "params": {
            "object": {"type": "string", "description": "name of the object to move"},
            "target": {"type": "string", "description": "an object name to place on, or 'table'"},
            "dx": {"type": "number", "description": "on an object: x offset from its centre (m); on the table: "
                   "absolute x (m)", "minimum": -WORKSPACE_HALF, "maximum": WORKSPACE_HALF, "default": 0.0},
            "dy": {"type": "number", "description": "as dx, for y", "minimum": -WORKSPACE_HALF,
                   "maximum": WORKSPACE_HALF, "default": 0.0},
        },
        "required": ["object", "target"],
    },
    "push": {
        "description": "Push an object horizontally with the gripper tip, low on its side.",
        "params": {
            "object": {"type": "string", "description": "name of the object to push"},
            "direction": {"type": ["number", "string"], "description": "degrees (0 = +x, 90 = +y) or one of "
                          f"{sorted(DIRECTIONS)}"},
            "distance": {"type": "number", "description": "how far to move the object (m)", "minimum": 0.0,
                         "maximum": MAX_PUSH_DISTANCE},
        },
        "required": ["object", "direction", "distance"],
    },
    "declare_infeasible": {
        "description": "State that the goal cannot be achieved in this scene; ends the episode.",
        "params": {},
        "required": [],
    },
}


def skill_schema_json() -> str:
    """The skill schema as JSON, for prompts and validation."""
    return json.dumps(SKILL_SCHEMA, indent=2)


@dataclass
class SkillResult:
    """What a skill did: its name, control ticks used, whether a move timed out, and notes."""

    name: str
    ticks: int = 0
    timeout: bool = False
    touched_down: bool = False
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _move(tt: TableTop, target: np.ndarray, speed: float, result: SkillResult, guard: bool = False) -> bool:
    """Move the gripper in a straight line at ``speed``; with ``guard``, stop when the held object
    touches anything. Returns True if stopped by the guard."""
    target = np.asarray(target, dtype=float)
    pos = tt.gripper_pos
    step = speed * tt.tick_seconds
    n_ticks = int(np.ceil(np.linalg.norm(target - pos) / step))
    for k in range(1, n_ticks + 1):
        tt.set_gripper(pos + (target - pos) * min(1.0, k / n_ticks))
        tt.tick()
        result.ticks += 1
        if guard and tt.held >= 0:
            touch, on_table = physics.contact_matrix(tt.scene, tt.data)
            if touch[tt.held].any() or on_table[tt.held]:
                return True
    return False


def _safe_height(tt: TableTop, carried: int = -1) -> float:
    tops = physics.top_heights(tt.scene, tt.data)
    others = np.delete(tops, carried) if carried >= 0 else tops
    carried_height = 2 * tt.scene.objects[carried].half_height if carried >= 0 else 0.0
    return max(0.12, float(others.max(initial=0.0)) + carried_height + 0.04)


def pick_place(tt: TableTop, obj: int, target: int, dx: float = 0.0, dy: float = 0.0,
               rng: np.random.Generator | None = None) -> SkillResult:
    """Pick object ``obj`` and place it on object ``target`` (offset dx, dy) or, with ``target=-1``,
    on the table at absolute (dx, dy). ``rng`` draws the placement error (none without it)."""
    result = SkillResult("pick_place")
    if obj == target:
        raise ValueError("cannot place an object on itself")
    if abs(dx) > WORKSPACE_HALF or abs(dy) > WORKSPACE_HALF:
        raise ValueError(f"dx and dy must lie in [-{WORKSPACE_HALF}, {WORKSPACE_HALF}] m, got dx={dx}, dy={dy}")
    spec = tt.scene.objects[obj]
    states = physics.object_states(tt.scene, tt.data)
    tops = physics.top_heights(tt.scene, tt.data)
    z_safe = _safe_height(tt)
    here = tt.gripper_pos
    _move(tt, np.array([here[0], here[1], max(here[2], z_safe)]), FREE_SPEED, result)
    grasp_xy = states[obj, :2]
    _move(tt, np.array([*grasp_xy, z_safe]), FREE_SPEED, result)
    _move(tt, np.array([*grasp_xy, tops[obj] + APPROACH_GAP]), FREE_SPEED, result)
    _move(tt, np.array([*grasp_xy, tops[obj]]), APPROACH_SPEED, result)
    tt.grasp(obj)

    z_carry = _safe_height(tt, carried=obj)
    _move(tt, np.array([*grasp_xy, z_carry]), CARRY_SPEED, result)
    states = physics.object_states(tt.scene, tt.data)
    if target >= 0:
        place_xy = states[target, :2] + (dx, dy)
        support_top = physics.top_heights(tt.scene, tt.data)[target]
    else:
        place_xy, support_top = np.array([dx, dy]), 0.0
    if rng is not None:
        radius, angle = rng.uniform(*PLACE_ERROR), rng.uniform(-np.pi, np.pi)
        place_xy = place_xy + radius * np.array([np.cos(angle), np.sin(angle)])
    z_place = support_top + 2 * spec.half_height + PLACE_CLEARANCE
    _move(tt, np.array([*place_xy, z_carry]), CARRY_SPEED, result)
    _move(tt, np.array([*place_xy, z_place + APPROACH_GAP]), CARRY_SPEED, result, guard=True)
    result.touched_down = _move(tt, np.array([*place_xy, z_place - 0.01]), APPROACH_SPEED, result, guard=True)
    tt.release()
    lift = tt.gripper_pos + (0.0, 0.0, 0.05)
    _move(tt, lift, FREE_SPEED, result)
    return result


def direction_degrees(direction: float | str) -> float:
    """Direction as degrees from a number or a direction word (see ``DIRECTIONS``)."""
    if isinstance(direction, str):
        key = direction.strip().lower()
        if key in DIRECTIONS:
            return DIRECTIONS[key]
        try:
            return float(key)
        except ValueError:
            raise ValueError(f"unknown push direction {direction!r}; use degrees or one of "
                             f"{sorted(DIRECTIONS)}") from None
    if isinstance(direction, bool) or not isinstance(direction, (int, float, np.integer, np.floating)):
        raise ValueError(f"push direction must be degrees or one of {sorted(DIRECTIONS)}, got {direction!r}")
    return float(direction)


def push(tt: TableTop, obj: int, direction: float | str, distance: float) -> SkillResult:
    """Push object ``obj`` along ``direction`` by ``distance`` metres with the pusher sphere."""
    result = SkillResult("push")
    if not 0.0 <= distance <= MAX_PUSH_DISTANCE:
        raise ValueError(f"distance must be in [0, {MAX_PUSH_DISTANCE}] m, got distance={distance}")
    theta = np.deg2rad(direction_degrees(direction))
    u = np.array([np.cos(theta), np.sin(theta)])
    spec = tt.scene.objects[obj]
    states = physics.object_states(tt.scene, tt.data)
    centre = states[obj, :3]
    reach = spec.radius_xy + PUSHER_RADIUS + 0.015
    z_push = max(centre[2] - 0.5 * spec.half_height, PUSHER_RADIUS + 0.002)
    start = centre[:2] - u * reach
    z_safe = _safe_height(tt)
    here = tt.gripper_pos
    _move(tt, np.array([here[0], here[1], max(here[2], z_safe)]), FREE_SPEED, result)
    _move(tt, np.array([*start, z_safe]), FREE_SPEED, result)
    _move(tt, np.array([*start, z_push]), FREE_SPEED, result)
    tt.set_pusher(True)
    contact_offset = spec.footprint if spec.shape != "ball" else spec.size[0]
    end = centre[:2] + u * distance - u * (contact_offset + PUSHER_RADIUS)
    _move(tt, np.array([*end, z_push]), PUSH_SPEED, result)
    _move(tt, np.array([*(end - 0.03 * u), z_push]), PUSH_SPEED, result)
    tt.set_pusher(False)
    _move(tt, np.array([*(end - 0.03 * u), z_safe]), FREE_SPEED, result)
    return result
