"""Support: towers and bridges that may or may not stand; does the red top reach the yellow?

``foretell/Support-v0``. Passive physics (see ``envs.scenarios.base.ScenarioEnv``).

Two layouts, half the episodes each:
- **tower**: a stack of cubes and cylinders (distractor colours) with the red agent on top. Each
  level sits off-centre on the one below, along one lean direction; the top's overhang is drawn
  across the tipping point (``TOP_OVERHANG`` x the supporting half-width), the lower levels'
  within it, so some towers stand and some topple.
- **bridge**: two pillars carry a plate deck with the red agent on it, which may overhang the
  deck's edge; with probability ``REMOVED_P`` one pillar has been taken away and the deck rests
  on the other one only, with deck and load balanced around that pillar's edge
  (``DECK_ON_ONE``), so it tips or not.
The yellow patient stands on the table on the lean side, a gap of ``PATIENT_REACH`` x the
structure's height beyond its far edge, so the red agent reaches it in about half the episodes.
The red top starts with an unseen nudge (up to ``NUDGE_SPEED``, random direction).
Space A: 3-4 objects (a bridge always has a pillar removed); space B: 5-6 (taller towers;
bridges intact or not). Object-contact label: the red agent touches
the yellow patient within the horizon (3 s).
"""

from __future__ import annotations

import numpy as np

from ..sim.captions import object_phrase, sentence
from ..sim.properties import PLATE_HALF_THICKNESS
from ..sim.scene import ObjectSpec
from .base import ScenarioEnv
from .collide import OBJECT_COUNT, _shaped

TOP_OVERHANG = (0.6, 1.5)  # red top's offset / supporting half-width; it tips past ~1
LOWER_OVERHANG = (0.0, 0.35)
PATIENT_REACH = (0.0, 0.45)  # patient gap beyond the structure's far edge / structure height
REMOVED_P = 0.5
# The red top starts with an unseen nudge in a random direction: without it the visible
# overhangs alone predicted the label (first-frame classifiers 70% against a 61% majority rate).
NUDGE_SPEED = (0.0, 0.25)
SIDE_SPREAD = 0.12  # patient offset across the lean direction / structure height
BRIDGE_SPAN = 0.7
# Levels start 0.1 mm apart: with the 1 mm most scenes drop objects from, a five-level stack
# lands level by level at up to 0.3 m/s, and those landings read as impacts in the direct graph.
STACK_GAP = 1e-4
DECK_ON_ONE = (0.0, 2.0)  # deck centre beyond the lone pillar's centre / its radius  # pillar centres at +-BRIDGE_SPAN x deck half-width


def stack(objects: list[ObjectSpec], base_xy: np.ndarray, offsets: list[np.ndarray]) -> float:
    """Stand ``objects`` one on another from ``base_xy``; ``offsets[i]`` shifts object i+1 from
    object i horizontally. Returns the stack's height."""
    xy, z = np.asarray(base_xy, dtype=float), 0.0
    for k, obj in enumerate(objects):
        if k:
            xy = xy + offsets[k - 1]
        obj.pos = (float(xy[0]), float(xy[1]), z + obj.half_height + STACK_GAP)
        z += 2 * obj.half_height + STACK_GAP
    return z




def _reach(objects: list[ObjectSpec], origin: np.ndarray, direction: np.ndarray) -> float:
    """How far the objects extend from ``origin`` along ``direction`` (horizontally)."""
    return max(float(np.dot(np.asarray(o.pos[:2]) - origin, direction)) + o.radius_xy for o in objects)


class SupportEnv(ScenarioEnv):
    __doc__ = __doc__

    def intro(self, rng):
        agent = object_phrase(next(o for o in self.initial_objects if o.name == self.agent_name), self.space)
        shape = "bridge" if any(o.shape == "plate" for o in self.initial_objects) else "tower"
        options = (f"{agent} sits on top of a {shape}.", f"A {shape} stands with {agent} on top.",
                   f"{agent} is balanced on a {shape}.")
        return sentence(options, rng)

    def sample_scene(self, rng, space):
        n = int(rng.integers(OBJECT_COUNT[space.name][0], OBJECT_COUNT[space.name][1] + 1))
        colors = [str(c) for c in rng.permutation([c for c in space.colors if c not in ("red", "yellow")])]
        lean = rng.uniform(-np.pi, np.pi)
        direction = np.array([np.cos(lean), np.sin(lean)])
        base_xy = -0.05 * direction + rng.uniform(-0.03, 0.03, size=2)
        agent = _shaped(str(rng.choice(["cube", "cylinder"])), "red", rng, space)
        if n >= 4 and rng.uniform() < 0.5:
            structure, height, edge = self._bridge(n, colors, agent, base_xy, direction, rng, space)
        else:
            structure, height, edge = self._tower(n, colors, agent, base_xy, direction, rng, space)
        patient = _shaped(str(rng.choice(["cube", "cylinder"])), "yellow", rng, space)
        reach = edge + patient.radius_xy + rng.uniform(*PATIENT_REACH) * height
        side = np.array([-direction[1], direction[0]]) * rng.uniform(-SIDE_SPREAD, SIDE_SPREAD) * height
        p_xy = base_xy + reach * direction + side
        patient.pos = (float(p_xy[0]), float(p_xy[1]), patient.half_height + 1e-3)
        nudge, heading = rng.uniform(*NUDGE_SPEED), rng.uniform(-np.pi, np.pi)
        return [agent, patient, *structure], {agent.name: nudge * np.array([np.cos(heading), np.sin(heading), 0.0])}

    def _tower(self, n, colors, agent, base_xy, direction, rng, space):
        levels = [_shaped(str(rng.choice(["cube", "cylinder"])), c, rng, space) for c in colors[: n - 2]]
        offsets = [rng.uniform(*LOWER_OVERHANG) * o.footprint * direction for o in levels[:-1]]
        offsets.append(rng.uniform(*TOP_OVERHANG) * levels[-1].footprint * direction)
        height = stack([*levels, agent], base_xy, offsets)
        return levels, height, _reach(levels + [agent], base_xy, direction)

    def _bridge(self, n, colors, agent, base_xy, direction, rng, space):
        deck = ObjectSpec(name=f"{colors[0]}_plate", shape="plate", color=colors[0],
                          size=(space.uniform(rng, "plate_half"), PLATE_HALF_THICKNESS),
                          mass=space.uniform(rng, "mass"), friction=space.uniform(rng, "friction"),
                          restitution=space.uniform(rng, "restitution"), yaw=float(np.arctan2(*direction[::-1])))
        pillar_h = space.uniform(rng, "cylinder_half_height") * 1.5
        pillars = [ObjectSpec(name=f"{c}_cylinder", shape="cylinder", color=c,
                              size=(0.45 * deck.size[0] * (1 - BRIDGE_SPAN) + 0.01, pillar_h),
                              mass=space.uniform(rng, "mass"), friction=space.uniform(rng, "friction"),
                              restitution=space.uniform(rng, "restitution")) for c in colors[1:3]]
        removed = n == 4 or rng.uniform() < REMOVED_P
        if removed:  # the pillar on the lean side is gone; the deck rests on the far one
            pillars = pillars[:1]
        spans = [-BRIDGE_SPAN * deck.size[0]] if removed else [-BRIDGE_SPAN * deck.size[0], BRIDGE_SPAN * deck.size[0]]
        for pillar, along in zip(pillars, spans, strict=True):
            xy = base_xy + along * direction
            pillar.pos = (float(xy[0]), float(xy[1]), pillar_h + STACK_GAP)
        top = 2 * pillar_h + STACK_GAP
        if removed:  # deck and load balanced near the remaining pillar's edge: they may tip or not
            deck_xy = pillars[0].pos[:2] + rng.uniform(*DECK_ON_ONE) * pillars[0].size[0] * direction
            agent_xy = deck_xy + rng.uniform(-0.3, 0.6) * deck.size[0] * direction
        else:  # an intact bridge stands; its load may overhang the deck's edge
            deck_xy = base_xy + rng.uniform(-0.2, 0.2) * deck.size[0] * direction
            agent_xy = deck_xy + rng.uniform(*TOP_OVERHANG) * deck.size[0] * direction
        deck.pos = (float(deck_xy[0]), float(deck_xy[1]), top + deck.half_height + STACK_GAP)
        agent.pos = (float(agent_xy[0]), float(agent_xy[1]),
                     top + 2 * deck.half_height + agent.half_height + 2 * STACK_GAP)
        extra = [_shaped("cube", colors[3], rng, space)] if len(pillars) + 3 < n else []
        for obj in extra:  # a distractor behind the bridge
            xy = base_xy - (deck.size[0] + 0.06) * direction
            obj.pos = (float(xy[0]), float(xy[1]), obj.half_height + 1e-3)
        structure = [*pillars, deck, agent]
        return [*pillars, deck, *extra], agent.pos[2] + agent.half_height, _reach(structure, base_xy, direction)
