"""PuzzleDrop: drop the red ball somewhere so that the yellow object touches the blue one.

``foretell/PuzzleDrop-v0`` (base: ``envs.puzzles.env.PuzzleEnv``; judging: ``envs.puzzles.core``).

The red ball waits in a tray at the table's corner until the action releases it, at rest, above
a point of the table. Action ``Box([-1, 1]^3)``, mapped linearly to: ``x`` and ``y`` -0.12..0.12 m
(the drop point), ``clearance`` 0.0..0.15 m (the gap between the ball's bottom and the highest
object under it, so a drop never starts inside something). One attempt, 4 s simulated.

Templates (success: the yellow object touches the blue one at some point of the rollout; the
red ball touching blue does not count):
- ``drop_ramp`` (train, space A): a gray ramp (frozen) with a yellow ball resting at its foot and
  a blue cube further on: a ball dropped on the ramp rolls down into the yellow one.
- ``drop_domino`` (train, space A): an upright yellow domino with a blue cube in front of it.
- ``drop_ramp_cylinder`` (held-out, space B): the ramp layout with a yellow cylinder at the foot.
- ``drop_dominoes`` (held-out, space B): a gray domino, then a yellow one, then a blue cube.
(A dropped ball only gets sideways motion from a slope or an oblique hit: a yellow ball on a
flat ledge hardly moves when a ball lands on it, because friction holds it; such layouts were
tried and dropped as unsolvable.)
"""

from __future__ import annotations

import mujoco
import numpy as np

from ..sim.properties import DOMINO_ASPECT, PropertySpace
from ..sim.ramps import make_ramp
from ..sim.scene import ObjectSpec
from .core import AGENT, PuzzleFamily, PuzzleGoal, PuzzleTask, Template, make_object, resting
from .env import PuzzleEnv

TRAY = (0.27, -0.27)  # where the red ball waits (front-right corner of the table)
TEXT = "Drop the red ball so that the yellow {} touches the blue {}."


def _agent(rng: np.random.Generator, space: PropertySpace) -> ObjectSpec:
    ball = make_object(AGENT, "ball", "red", (space.uniform(rng, "ball_radius"),), rng, space)
    return resting(ball, TRAY)


def _direction(rng: np.random.Generator) -> np.ndarray:
    """A direction mostly across the front camera's view (along +-y), so cause and effect show."""
    yaw = rng.choice([-0.5, 0.5]) * np.pi + rng.uniform(-0.5, 0.5)
    return np.array([np.cos(yaw), np.sin(yaw)])


def _blue(shape: str, rng, space) -> ObjectSpec:
    size = ((space.uniform(rng, "cube_half"),) if shape == "cube" else
            (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height")))
    return make_object(f"blue_{shape}", shape, "blue", size, rng, space)


def _build_ramp(rng: np.random.Generator, space: PropertySpace, shape: str = "ball"):
    direction = _direction(rng)
    yaw = float(np.arctan2(direction[1], direction[0]))
    slope = np.radians(rng.uniform(15.0, 22.0))
    foot = -0.02 * direction + rng.uniform(-0.03, 0.03, size=2)
    ramp = make_ramp("gray", foot, yaw, slope, space.uniform(rng, "friction"))
    ramp.name = "gray_ramp"
    size = ((space.uniform(rng, "ball_radius"),) if shape == "ball" else
            (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height")))
    target = make_object(f"yellow_{shape}", shape, "yellow", size, rng, space)
    resting(target, foot + (target.size[0] + rng.uniform(0.01, 0.03)) * direction)
    blue = _blue("cube", rng, space)
    side = np.array([-direction[1], direction[0]])
    # a hit ball rolls only a few centimetres here (inelastic contacts, rolling friction); a hit
    # cylinder slides less still, so it stands a few millimetres from the cube's face
    if shape == "ball":
        along = target.size[0] + blue.radius_xy + rng.uniform(0.005, 0.03)
    else:
        along = target.size[0] + blue.size[0] + rng.uniform(0.002, 0.008)
    resting(blue, np.asarray(target.pos[:2]) + along * direction + rng.uniform(-0.02, 0.02) * side)
    goal = PuzzleGoal("touch", target.name, other=blue.name)
    return [_agent(rng, space), target, ramp, blue], (), goal, TEXT.format(shape, "cube"), {}


def _build_ramp_cylinder(rng: np.random.Generator, space: PropertySpace):
    return _build_ramp(rng, space, "cylinder")


def _build_domino(rng: np.random.Generator, space: PropertySpace, colors: tuple[str, ...] = ("yellow",)):
    direction = _direction(rng)
    half_height = space.uniform(rng, "domino_half_height")
    d_xy = rng.uniform(-0.04, 0.04, size=2)
    dominoes = []
    for k, color in enumerate(colors):
        domino = make_object(f"{color}_domino", "domino", color, tuple(f * half_height for f in DOMINO_ASPECT), rng,
                             space)
        domino.yaw = float(np.arctan2(direction[1], direction[0]))
        dominoes.append(resting(domino, d_xy + k * rng.uniform(1.0, 1.3) * half_height * direction))
    blue = _blue("cube", rng, space)
    resting(blue, np.asarray(dominoes[-1].pos[:2]) + (rng.uniform(1.5, 2.0) * half_height + blue.size[0]) * direction)
    goal = PuzzleGoal("touch", "yellow_domino", other=blue.name)
    return [_agent(rng, space), *dominoes, blue], (), goal, TEXT.format("domino", "cube"), {}


def _build_dominoes(rng: np.random.Generator, space: PropertySpace):
    return _build_domino(rng, space, ("gray", "yellow"))


def top_height(obj: ObjectSpec) -> float:
    """Height of the object's highest point at its built pose."""
    quat = np.array(obj.quat if obj.quat is not None else [np.cos(obj.yaw / 2), 0.0, 0.0, np.sin(obj.yaw / 2)])
    rot = np.empty(9)
    mujoco.mju_quat2Mat(rot, quat)
    return float(obj.pos[2] + np.abs(rot.reshape(3, 3)[2]) @ obj.half_extents())


class DropFamily(PuzzleFamily):
    """Drop puzzles; see the module docstring."""

    name = "drop"
    action_names = ("x", "y", "clearance")
    action_low = (-0.12, -0.12, 0.0)
    action_high = (0.12, 0.12, 0.15)
    templates = (
        Template("drop_ramp", "train", "A", _build_ramp, "roll down a ramp into a ball, into a cube"),
        Template("drop_domino", "train", "A", _build_domino, "tip a domino onto a cube"),
        Template("drop_ramp_cylinder", "heldout", "B", _build_ramp_cylinder, "roll down a ramp into a cylinder"),
        Template("drop_dominoes", "heldout", "B", _build_dominoes, "tip one domino into another, onto a cube"),
    )

    def agent_start(self, task: PuzzleTask, physical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y, clearance = physical
        radius = task.objects[0].size[0]
        floor = 0.0
        for obj in task.objects[1:]:  # the highest object whose footprint the ball overlaps
            if np.hypot(x - obj.pos[0], y - obj.pos[1]) < obj.radius_xy + radius:
                floor = max(floor, top_height(obj))
        return np.array([x, y, floor + clearance + radius + 1e-3]), np.zeros(6)


class PuzzleDropEnv(PuzzleEnv):
    __doc__ = __doc__
    puzzle = DropFamily()
