"""do()-interventions on scene objects, checked against the env's property space.

An intervention is a dict ``{"<object>.<variable>": value, "<object>": "remove" | "freeze"}``:

| variable | value | bound |
|---|---|---|
| ``mass`` | kg | the space's mass range |
| ``friction`` | sliding coefficient | the space's friction range |
| ``restitution`` | coefficient | the space's restitution range |
| ``size`` | scale factor on every half-extent | the result must stay in the space's size range for the shape |
| ``position`` | (x, y, z) m | |x|, |y| <= 0.35 (the table), 0 <= z <= 1 |
| ``orientation`` | unit quaternion (w, x, y, z) | 4 finite numbers, not all zero (normalised) |
| ``velocity`` | (vx, vy, vz) m/s | speed <= ``MAX_SPEED`` |
| ``fragility`` | break threshold, N*s | fragile objects only |

Invalid names, variables or values raise ``ValueError`` naming the variable and its allowed range.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import mujoco
import numpy as np

from .properties import PropertySpace
from .scene import TABLE_HALF, ObjectSpec, Scene, build_scene

MAX_SPEED = 4.0
VARIABLES = ("mass", "friction", "restitution", "size", "position", "orientation", "velocity", "fragility")
ACTIONS = ("remove", "freeze")
_SIZE_FIELD = {"cube": "cube_half", "cylinder": "cylinder_radius", "ball": "ball_radius", "plate": "plate_half",
               "glass": "cylinder_radius", "domino": "domino_half_height"}


@dataclass
class InterventionPlan:
    """Validated interventions: new object specs (positions included) plus velocity overrides."""

    objects: list[ObjectSpec]
    velocity: dict[str, np.ndarray] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def _check_range(key: str, value: float, bounds: tuple[float, float]) -> float:
    value = float(value)
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{key}={value} is out of range; allowed [{bounds[0]}, {bounds[1]}]")
    return value


def _vector(key: str, value) -> np.ndarray:
    vec = np.asarray(value, dtype=float)
    if vec.shape != (3,) or not np.all(np.isfinite(vec)):
        raise ValueError(f"{key} must be 3 finite numbers, got {value!r}")
    return vec


def plan_interventions(changes: dict, objects: list[ObjectSpec], space: PropertySpace,
                       fragility_range: tuple[float, float] | None = None) -> InterventionPlan:
    """Validate ``changes`` and return the intervened scene description (inputs are not modified)."""
    by_name = {o.name: dataclasses.replace(o) for o in objects}
    plan = InterventionPlan(objects=[])
    for key, value in changes.items():
        name, _, variable = key.partition(".")
        if name not in by_name:
            raise ValueError(f"unknown object {name!r} in intervention {key!r}; valid names: {sorted(by_name)}")
        obj = by_name[name]
        if not variable:
            if value not in ACTIONS:
                raise ValueError(f"{key}={value!r}: an object alone takes one of {ACTIONS}")
            if value == "remove":
                plan.removed.append(name)
            else:
                obj.frozen = True
            continue
        if variable not in VARIABLES:
            raise ValueError(f"unknown variable {variable!r} in {key!r}; valid variables: {VARIABLES}")
        if variable in ("mass", "friction", "restitution"):
            setattr(obj, variable, _check_range(key, value, space.bounds(variable)))
        elif variable == "size":
            if obj.shape not in _SIZE_FIELD:
                raise ValueError(f"{key}: a {obj.shape} is scenery; its size cannot be intervened on")
            lo, hi = space.bounds(_SIZE_FIELD[obj.shape])
            scale = float(value)
            base = obj.half_height if obj.shape == "domino" else obj.size[0]
            main = base * scale
            if not lo <= main <= hi or scale <= 0:
                raise ValueError(f"{key}={scale} is out of range; allowed [{lo / base:.3f}, {hi / base:.3f}] "
                                 f"(so the {obj.shape} stays in [{lo}, {hi}] m)")
            obj.size = tuple(s * scale for s in obj.size) if obj.shape != "plate" else (main, obj.size[1])
            if obj.shape == "domino":
                obj.pos = (*obj.pos[:2], obj.pos[2] + main - base)  # keep it standing on what it stood on
        elif variable == "position":
            pos = _vector(key, value)
            if np.any(np.abs(pos[:2]) > TABLE_HALF) or not 0.0 <= pos[2] <= 1.0:
                raise ValueError(f"{key}={pos.tolist()} is out of range; allowed |x|, |y| <= {TABLE_HALF}, "
                                 "0 <= z <= 1")
            obj.pos = tuple(float(x) for x in pos)
        elif variable == "orientation":
            quat = np.asarray(value, dtype=float)
            if quat.shape != (4,) or not np.all(np.isfinite(quat)) or np.linalg.norm(quat) < 1e-9:
                raise ValueError(f"{key} must be a quaternion (w, x, y, z): 4 finite numbers, not all zero; "
                                 f"got {value!r}")
            obj.quat = tuple(float(q) for q in quat / np.linalg.norm(quat))
        elif variable == "velocity":
            vel = _vector(key, value)
            if np.linalg.norm(vel) > MAX_SPEED:
                raise ValueError(f"{key} speed {np.linalg.norm(vel):.3f} is out of range; allowed [0, {MAX_SPEED}] m/s")
            plan.velocity[name] = vel
        else:  # fragility
            if not obj.fragile or fragility_range is None:
                raise ValueError(f"{key}: {name} is not fragile, so it has no fragility threshold")
            obj.fragility = _check_range(key, value, fragility_range)
    plan.objects = [o for n, o in by_name.items() if n not in plan.removed]
    return plan


def intervene_now(scene: Scene, data: mujoco.MjData, changes: dict, space: PropertySpace,
                  image_size: int = 128, fragility_range: tuple[float, float] | None = None,
                  ) -> tuple[Scene, mujoco.MjData, InterventionPlan]:
    """Apply ``changes`` to a running simulation: a new scene is built from the current poses
    (frozen objects are welded where they are), velocities carry over by name (overridden
    ones replaced, frozen ones zeroed), and so do the simulation time and the mocap gripper."""
    poses = data.qpos.reshape(-1, 7)
    current = [dataclasses.replace(o, pos=tuple(p[:3]), quat=tuple(p[3:])) for o, p in zip(scene.objects, poses,
                                                                                              strict=True)]
    plan = plan_interventions(changes, current, space, fragility_range)
    old_qvel = dict(zip(scene.names, data.qvel.reshape(-1, 6).copy(), strict=True))
    new_scene = build_scene(plan.objects, image_size=image_size, markers=scene.markers)
    new_data = mujoco.MjData(new_scene.model)
    qvel = new_data.qvel.reshape(-1, 6)
    for i, obj in enumerate(plan.objects):
        qvel[i] = old_qvel[obj.name]
        if obj.name in plan.velocity:
            qvel[i, :3] = plan.velocity[obj.name]
        if obj.frozen:
            qvel[i] = 0.0
    new_data.time = data.time
    new_data.mocap_pos[:] = data.mocap_pos
    new_data.mocap_quat[:] = data.mocap_quat
    mujoco.mj_forward(new_scene.model, new_data)
    return new_scene, new_data, plan
