"""PuzzleLaunch: launch the red ball to knock, hit or push the yellow target; never touch purple.

``foretell/PuzzleLaunch-v0`` (base: ``envs.puzzles.env.PuzzleEnv``; judging: ``envs.puzzles.core``).

The red ball rests at a start point on the table; the layout lies along a *heading* from it
(along the camera's left-right axis, +-0.3 rad). Action ``Box([-1, 1]^3)``, mapped linearly to:
``yaw`` -40..40 degrees from the heading, ``elevation`` 0..60 degrees above the table,
``speed`` 0.4..2.4 m/s of the ball's launch velocity. One attempt, 4 s simulated.

Templates (success also needs the red ball never to touch a purple object):
- ``launch_platform`` (train, space A): a yellow cube on a gray platform (frozen, top 4-6 cm),
  a purple cylinder near the line of fire. Success: the cube ends below the platform's top.
- ``launch_wall`` (train, space A): a yellow cylinder on the table behind a purple wall (frozen).
  Success: the red ball touches the yellow cylinder (lob over the wall, or go round it).
- ``launch_zone`` (held-out, space B): a yellow cylinder on the table and a green goal zone
  beyond it, a purple ball nearby. Success: the cylinder ends lying in the zone.
- ``launch_high`` (held-out, space B): a yellow ball on a tall gray platform (top 8-11 cm), a
  purple cube in front of it. Success: the yellow ball ends below the platform's top.
"""

from __future__ import annotations

import numpy as np

from ..sim.properties import PropertySpace
from ..sim.scene import Marker
from .core import AGENT, PuzzleFamily, PuzzleGoal, PuzzleTask, Template, make_object, resting
from .env import PuzzleEnv

START_DISTANCE = 0.24  # m from the table centre, against the heading


def _frame(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A heading along +-y (the front camera's left-right) with jitter; its side; the start point."""
    yaw = float(rng.choice([-0.5, 0.5]) * np.pi + rng.uniform(-0.3, 0.3))
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    side = np.array([-heading[1], heading[0]])
    start = -START_DISTANCE * heading + rng.uniform(-0.02, 0.02, size=2)
    return heading, side, start


def _agent(rng: np.random.Generator, space: PropertySpace, start: np.ndarray):
    ball = make_object(AGENT, "ball", "red", (space.uniform(rng, "ball_radius"),), rng, space)
    return resting(ball, start)


def _platform(rng, space, xy, half_height: float):
    plate = make_object("gray_platform", "plate", "gray", (rng.uniform(0.035, 0.045), half_height), rng, space,
                        frozen=True, mass=1.0)
    return resting(plate, xy)


def _build_platform(rng: np.random.Generator, space: PropertySpace):
    heading, side, start = _frame(rng)
    agent = _agent(rng, space, start)
    p_xy = start + rng.uniform(0.22, 0.30) * heading + rng.uniform(-0.05, 0.05) * side
    platform = _platform(rng, space, p_xy, rng.uniform(0.02, 0.03))
    top = 2 * platform.half_height + 1e-3
    target = make_object("yellow_cube", "cube", "yellow", (space.uniform(rng, "cube_half"),), rng, space)
    resting(target, p_xy + rng.uniform(-0.01, 0.01, size=2), base=top)
    guard = make_object("purple_cylinder", "cylinder", "purple",
                        (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height")), rng, space)
    along = rng.uniform(0.4, 0.6)
    resting(guard, start + along * (p_xy - start) + rng.choice([-1, 1]) * rng.uniform(0.035, 0.06) * side)
    goal = PuzzleGoal("off", target.name, below=top, forbidden=(guard.name,))
    text = ("Launch the red ball to knock the yellow cube off the gray platform. "
            "The red ball must not touch the purple cylinder.")
    return [agent, target, platform, guard], (), goal, text, {"heading": heading.tolist()}


def _build_wall(rng: np.random.Generator, space: PropertySpace):
    heading, side, start = _frame(rng)
    agent = _agent(rng, space, start)
    w_xy = start + rng.uniform(0.12, 0.18) * heading + rng.uniform(-0.02, 0.02) * side
    wall = make_object("purple_wall", "domino", "purple", (0.01, rng.uniform(0.06, 0.09), rng.uniform(0.03, 0.045)),
                       rng, space, frozen=True, mass=1.0)
    wall.yaw = float(np.arctan2(heading[1], heading[0]))  # its broad face faces the start
    resting(wall, w_xy)
    target = make_object("yellow_cylinder", "cylinder", "yellow",
                         (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height")), rng, space)
    resting(target, w_xy + rng.uniform(0.06, 0.12) * heading + rng.uniform(-0.03, 0.03) * side)
    goal = PuzzleGoal("touch", target.name, other=AGENT, forbidden=(wall.name,))
    text = "Hit the yellow cylinder with the red ball. The red ball must not touch the purple wall."
    return [agent, target, wall], (), goal, text, {"heading": heading.tolist()}


def _build_zone(rng: np.random.Generator, space: PropertySpace):
    heading, side, start = _frame(rng)
    agent = _agent(rng, space, start)
    t_xy = start + rng.uniform(0.14, 0.20) * heading + rng.uniform(-0.03, 0.03) * side
    target = make_object("yellow_cylinder", "cylinder", "yellow",
                         (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height")), rng, space)
    resting(target, t_xy)
    bearing = rng.uniform(-0.5, 0.5)
    direction = np.cos(bearing) * heading + np.sin(bearing) * side
    z_xy = t_xy + rng.uniform(0.09, 0.14) * direction
    half = float(rng.uniform(0.035, 0.045))
    zone = Marker("goal_zone", (float(z_xy[0]), float(z_xy[1])), (half, half), "green")
    guard = make_object("purple_ball", "ball", "purple", (space.uniform(rng, "ball_radius"),), rng, space)
    resting(guard, t_xy + rng.uniform(-0.02, 0.04) * heading - np.sign(bearing) * rng.uniform(0.07, 0.1) * side)
    goal = PuzzleGoal("zone", target.name, zone=zone, forbidden=(guard.name,))
    text = ("Launch the red ball so that the yellow cylinder ends in the green zone. "
            "The red ball must not touch the purple ball.")
    return [agent, target, guard], (zone,), goal, text, {"heading": heading.tolist()}


def _build_high(rng: np.random.Generator, space: PropertySpace):
    heading, side, start = _frame(rng)
    agent = _agent(rng, space, start)
    p_xy = start + rng.uniform(0.24, 0.30) * heading + rng.uniform(-0.04, 0.04) * side
    platform = _platform(rng, space, p_xy, rng.uniform(0.04, 0.055))
    top = 2 * platform.half_height + 1e-3
    target = make_object("yellow_ball", "ball", "yellow", (space.uniform(rng, "ball_radius"),), rng, space)
    resting(target, p_xy + rng.uniform(-0.008, 0.008, size=2), base=top)
    guard = make_object("purple_cube", "cube", "purple", (space.uniform(rng, "cube_half"),), rng, space)
    resting(guard, start + rng.uniform(0.45, 0.6) * (p_xy - start) + rng.uniform(-0.02, 0.02) * side)
    goal = PuzzleGoal("off", target.name, below=top, forbidden=(guard.name,))
    text = ("Launch the red ball to knock the yellow ball off the tall gray platform. "
            "The red ball must not touch the purple cube.")
    return [agent, target, platform, guard], (), goal, text, {"heading": heading.tolist()}


class LaunchFamily(PuzzleFamily):
    """Launch puzzles; see the module docstring."""

    name = "launch"
    action_names = ("yaw", "elevation", "speed")
    action_low = (-np.radians(40.0), 0.0, 0.4)
    action_high = (np.radians(40.0), np.radians(60.0), 2.4)
    templates = (
        Template("launch_platform", "train", "A", _build_platform, "knock a cube off a low platform"),
        Template("launch_wall", "train", "A", _build_wall, "hit a cylinder behind a forbidden wall"),
        Template("launch_zone", "heldout", "B", _build_zone, "push a cylinder into a goal zone"),
        Template("launch_high", "heldout", "B", _build_high, "knock a ball off a tall platform"),
    )

    def agent_start(self, task: PuzzleTask, physical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        yaw, elevation, speed = physical
        heading = np.asarray(task.extra["heading"])
        base = np.arctan2(heading[1], heading[0]) + yaw
        direction = np.array([np.cos(elevation) * np.cos(base), np.cos(elevation) * np.sin(base), np.sin(elevation)])
        return np.asarray(task.objects[0].pos, dtype=float), np.concatenate([speed * direction, np.zeros(3)])


class PuzzleLaunchEnv(PuzzleEnv):
    __doc__ = __doc__
    puzzle = LaunchFamily()
