"""Dominoes: a pushed domino starts a chain; does it reach the red domino, and the red the yellow?

``foretell/Dominoes-v0``. Passive physics (see ``envs.scenarios.base.ScenarioEnv``).

Scene: a line of upright dominoes (thin boxes, ``DOMINO_ASPECT`` x the half-height drawn from the
property space) along a random heading. The first one, a distractor colour, is tipped forward
(an angular velocity about its front edge; its speed is not visible in the first frame); the
red agent is the last-but-one and the yellow patient the last. Gaps between neighbours are
drawn at ``SAFE_GAP`` x the domino height, except one *critical* gap drawn across the reach of
a falling domino (``CRITICAL_GAP``), so about half of the chains break before the red one
reaches the yellow. Small sideways and yaw jitter per domino; the line runs across the front
camera's view (heading within 0.6 rad of the y axis). Space A: 3-4 dominoes; space B:
5-6 (longer chains, larger and heavier dominoes). Object-contact label: the red domino touches
the yellow one within the horizon (3 s), which happens only when the chain runs all the way.
"""

from __future__ import annotations

import numpy as np

from ..sim.captions import object_phrase, sentence
from ..sim.properties import DOMINO_ASPECT, PropertySpace
from ..sim.scene import ObjectSpec
from .base import ScenarioEnv
from .collide import OBJECT_COUNT

SAFE_GAP = (0.35, 0.7)  # centre spacing, in domino heights
CRITICAL_GAP = (0.9, 1.4)  # a falling domino reaches the next up to ~1.15 heights (measured)
PUSH_SPIN = (3.0, 6.0)  # rad/s about the first domino's front bottom edge
JITTER = 0.004  # m sideways, and JITTER x 10 rad of yaw


def make_domino(color: str, half_height: float, space: PropertySpace, rng: np.random.Generator) -> ObjectSpec:
    size = tuple(float(f * half_height) for f in DOMINO_ASPECT)
    return ObjectSpec(name=f"{color}_domino", shape="domino", color=color, size=size,
                      mass=space.uniform(rng, "mass"), friction=space.uniform(rng, "friction"),
                      restitution=space.uniform(rng, "restitution"))


def lay_chain(dominoes: list[ObjectSpec], start: np.ndarray, yaw: float, gaps: np.ndarray,
              rng: np.random.Generator) -> None:
    """Stand ``dominoes`` in a line from ``start`` along ``yaw`` with centre spacings ``gaps``."""
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    side = np.array([-heading[1], heading[0]])
    offsets = np.concatenate([[0.0], np.cumsum(gaps)])
    for domino, along in zip(dominoes, offsets, strict=True):
        xy = start + along * heading + rng.uniform(-JITTER, JITTER) * side
        domino.pos = (float(xy[0]), float(xy[1]), domino.half_height + 1e-3)
        domino.yaw = float(yaw + rng.uniform(-10 * JITTER, 10 * JITTER))


def tip_velocity(domino: ObjectSpec, spin: float) -> np.ndarray:
    """Free-joint velocity ``(6,)`` rotating an upright ``domino`` forward (along its yaw) about
    its front bottom edge at ``spin`` rad/s: linear part in the world frame, angular part in the
    body frame (MuJoCo's free-joint convention)."""
    heading = np.array([np.cos(domino.yaw), np.sin(domino.yaw), 0.0])
    omega = spin * np.array([-heading[1], heading[0], 0.0])  # world frame: the top moves along the heading
    lever = -domino.size[0] * heading + np.array([0.0, 0.0, domino.half_height])  # pivot -> centre
    return np.concatenate([np.cross(omega, lever), [0.0, spin, 0.0]])  # body y is the world's omega axis


class DominoesEnv(ScenarioEnv):
    __doc__ = __doc__

    def intro(self, rng):
        first = object_phrase(self.initial_objects[0], self.space)
        options = (f"{first} is tipped over.", f"Someone pushes {first}.", f"{first} is nudged forward.")
        return sentence(options, rng)

    def sample_scene(self, rng, space):
        n = int(rng.integers(OBJECT_COUNT[space.name][0], OBJECT_COUNT[space.name][1] + 1))
        half_height = space.uniform(rng, "domino_half_height")
        colors = [str(c) for c in rng.permutation([c for c in space.colors if c not in ("red", "yellow")])]
        dominoes = [make_domino(c, half_height, space, rng) for c in [*colors[: n - 2], "red", "yellow"]]
        height = 2 * half_height
        gaps = rng.uniform(*SAFE_GAP, size=n - 1) * height
        gaps[rng.integers(n - 1)] = rng.uniform(*CRITICAL_GAP) * height
        yaw = rng.choice([-0.5, 0.5]) * np.pi + rng.uniform(-0.6, 0.6)  # across the front camera's view
        heading = np.array([np.cos(yaw), np.sin(yaw)])
        start = -0.5 * gaps.sum() * heading + rng.uniform(-0.04, 0.04, size=2)
        lay_chain(dominoes, start, yaw, gaps, rng)
        velocity = tip_velocity(dominoes[0], rng.uniform(*PUSH_SPIN))
        # the pushed domino first, so that env.initial_objects[0] is the one the intro names
        return dominoes, {dominoes[0].name: velocity}
