"""PuzzleTopple: shoot the red ball at a structure so the yellow object lands in the green zone.

``foretell/PuzzleTopple-v0`` (base: ``envs.puzzles.env.PuzzleEnv``; judging: ``envs.puzzles.core``).

A structure stands around a *pivot* point; a green goal zone lies on the table nearby. The red
ball waits in a tray at the table's corner until the action places it on a launch ring around
the pivot (just outside the structure) and shoots it horizontally at the pivot. Action
``Box([-1, 1]^3)``, mapped linearly to: ``bearing`` -180..180 degrees (where on the ring, from
the +x axis), ``height`` 0.01..0.20 m (the ball's centre above the table, at least its radius),
``speed`` 0.5..2.5 m/s. One attempt, 4 s simulated.

Templates (success: the yellow object ends lying on the table inside the green zone):
- ``topple_tower`` (train, space A): two or three cubes with a yellow cube on top.
- ``topple_mixed`` (train, space A): a cylinder, a cube and a yellow cylinder on top.
- ``topple_dominoes`` (held-out, space A): a row of three dominoes ending in a yellow one.
- ``topple_tall`` (held-out, space B): four levels with the yellow cube second from the top.
"""

from __future__ import annotations

import numpy as np

from ..sim.properties import DOMINO_ASPECT, PropertySpace
from ..sim.scene import Marker
from .core import AGENT, PuzzleFamily, PuzzleGoal, PuzzleTask, Template, make_object, resting
from .env import PuzzleEnv

TRAY = (0.27, -0.27)  # where the red ball waits (front-right corner of the table)
RING_GAP = 0.02  # m between the structure's reach and the ball's surface on the launch ring
TOWER_COLORS = {"A": ("white", "green", "blue", "white"), "B": ("orange", "cyan", "pink", "brown")}
ZONE_HALF = {"A": (0.035, 0.045), "B": (0.045, 0.055)}  # m; space B objects are larger
ZONE_TEXT = "so that the yellow {} ends in the green zone."


def _agent(rng: np.random.Generator, space: PropertySpace):
    ball = make_object(AGENT, "ball", "red", (space.uniform(rng, "ball_radius"),), rng, space)
    return resting(ball, TRAY)


def _zone(rng: np.random.Generator, pivot: np.ndarray, reach: float, height: float, space: PropertySpace) -> Marker:
    """A square zone at a random bearing, about where an object ``height`` up lands when it topples."""
    bearing = rng.uniform(-np.pi, np.pi)
    distance = reach + rng.uniform(0.3, 0.9) * height
    xy = pivot + distance * np.array([np.cos(bearing), np.sin(bearing)])
    half = float(rng.uniform(*ZONE_HALF[space.name]))
    return Marker("goal_zone", (float(xy[0]), float(xy[1])), (half, half), "green")


def _stack(levels: list, pivot: np.ndarray, rng: np.random.Generator, jitter: float = 0.004) -> float:
    """Stand ``levels`` one on another at ``pivot`` (small offsets); return the stack's height."""
    z = 0.0
    for obj in levels:
        resting(obj, pivot + rng.uniform(-jitter, jitter, size=2), base=z)
        z += 2 * obj.half_height + 1e-3
    return z


def _block(name: str, shape: str, color: str, rng, space):
    size = ((space.uniform(rng, "cube_half"),) if shape == "cube" else
            (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height")))
    return make_object(name, shape, color, size, rng, space)


def _tower_task(rng, space, shapes: list[str], yellow_level: int):
    pivot = rng.uniform(-0.05, 0.05, size=2)
    colors = TOWER_COLORS[space.name]
    levels = []
    for k, shape in enumerate(shapes):
        color = "yellow" if k == yellow_level else colors[k]
        levels.append(_block(f"{color}_{shape}", shape, color, rng, space))
    _stack(levels, pivot, rng)
    reach = max(o.radius_xy for o in levels)
    yellow_top = levels[yellow_level].pos[2] + levels[yellow_level].half_height
    zone = _zone(rng, pivot, reach, yellow_top, space)
    target = levels[yellow_level]
    goal = PuzzleGoal("zone", target.name, zone=zone)
    text = f"Shoot the red ball at the tower {ZONE_TEXT.format(target.shape)}"
    extra = {"pivot": pivot.tolist(), "reach": reach}
    return [_agent(rng, space), *levels], (zone,), goal, text, extra


def _build_tower(rng: np.random.Generator, space: PropertySpace):
    n = int(rng.integers(3, 5))
    return _tower_task(rng, space, ["cube"] * n, n - 1)


def _build_mixed(rng: np.random.Generator, space: PropertySpace):
    return _tower_task(rng, space, ["cylinder", "cube", "cylinder"], 2)


def _build_tall(rng: np.random.Generator, space: PropertySpace):
    return _tower_task(rng, space, ["cube", "cylinder", "cube", "cube"], 2)


def _build_dominoes(rng: np.random.Generator, space: PropertySpace):
    half_height = space.uniform(rng, "domino_half_height")
    size = tuple(float(f * half_height) for f in DOMINO_ASPECT)
    yaw = float(rng.uniform(-np.pi, np.pi))
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    gaps = rng.uniform(0.45, 0.6, size=2) * 2 * half_height
    centre = rng.uniform(-0.04, 0.04, size=2)
    offsets = np.concatenate([[0.0], np.cumsum(gaps)]) - 0.5 * gaps.sum()
    dominoes = []
    for color, along in zip(("white", "blue", "yellow"), offsets, strict=True):
        domino = make_object(f"{color}_domino", "domino", color, size, rng, space)
        domino.yaw = yaw
        dominoes.append(resting(domino, centre + along * heading))
    reach = 0.5 * gaps.sum() + dominoes[0].radius_xy
    last = centre + offsets[-1] * heading
    # a toppled domino's centre lands about a half-height beyond its base; the zone leaves its start out
    xy = last + rng.uniform(1.2, 1.6) * half_height * heading + rng.uniform(-0.3, 0.3) * half_height * np.array(
        [-heading[1], heading[0]])
    half = float(rng.uniform(0.025, 0.03))
    zone = Marker("goal_zone", (float(xy[0]), float(xy[1])), (half, half), "green")
    goal = PuzzleGoal("zone", "yellow_domino", zone=zone)
    text = f"Shoot the red ball at the dominoes {ZONE_TEXT.format('domino')}"
    return [_agent(rng, space), *dominoes], (zone,), goal, text, {"pivot": centre.tolist(), "reach": reach}


class ToppleFamily(PuzzleFamily):
    """Topple puzzles; see the module docstring."""

    name = "topple"
    action_names = ("bearing", "height", "speed")
    action_low = (-np.pi, 0.01, 0.5)
    action_high = (np.pi, 0.20, 2.5)
    templates = (
        Template("topple_tower", "train", "A", _build_tower, "a cube tower with a yellow top"),
        Template("topple_mixed", "train", "A", _build_mixed, "cylinders and a cube, yellow cylinder on top"),
        Template("topple_dominoes", "heldout", "A", _build_dominoes, "a row of dominoes ending in yellow"),
        Template("topple_tall", "heldout", "B", _build_tall, "a four-level tower, yellow second from the top"),
    )

    def agent_start(self, task: PuzzleTask, physical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bearing, height, speed = physical
        radius = task.objects[0].size[0]
        out = np.array([np.cos(bearing), np.sin(bearing)])
        xy = np.asarray(task.extra["pivot"]) + (task.extra["reach"] + RING_GAP + radius) * out
        start = np.array([xy[0], xy[1], max(height, radius + 1e-3)])
        return start, np.concatenate([-speed * out, [0.0], np.zeros(3)])


class PuzzleToppleEnv(PuzzleEnv):
    __doc__ = __doc__
    puzzle = ToppleFamily()
