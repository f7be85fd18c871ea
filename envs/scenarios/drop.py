"""Drop: a red object is dropped from a height near a yellow target, among distractors.

``foretell/Drop-v0``. Passive physics (see ``envs.scenarios.base.ScenarioEnv``).

Scene: the yellow patient (cube, cylinder or plate) on the table; the red agent (ball or cube)
released above it with a horizontal offset drawn uniformly in a disc of radius
``OFFSET_SPREAD`` x (patient footprint + agent radius) and tossed sideways at up to
``TOSS_SPEED`` in a random direction (invisible in a still frame), so about half of the drops
land on the patient (the rest may still bounce or roll into it). Space A: 3-4 objects, drop height 0.10-0.20 m;
space B: 5-6 objects, 0.25-0.35 m. Object-contact label: the agent touches the patient within 3 s.
"""

from __future__ import annotations

import numpy as np

from ..sim.captions import object_phrase, sentence
from ..sim.properties import PLATE_HALF_THICKNESS
from ..sim.scene import ObjectSpec
from .base import ScenarioEnv
from .collide import OBJECT_COUNT, _shaped, place_distractors

DROP_HEIGHT = {"A": (0.10, 0.20), "B": (0.25, 0.35)}
OFFSET_SPREAD = 1.15
# A horizontal toss in a random direction, which a still first frame does not show: without it
# the visible offset alone predicted the label (first-frame logistic regression 82% vs 59%).
TOSS_SPEED = {"A": (0.1, 0.5), "B": (0.1, 0.5)}


class DropEnv(ScenarioEnv):
    __doc__ = __doc__

    def intro(self, rng):
        objects = {o.name: o for o in self.sim.objects}
        agent = object_phrase(objects[self.agent_name], self.space)
        patient = object_phrase(objects[self.patient_name], self.space)
        options = (f"{agent} is dropped near {patient}.", f"{agent} falls from above, close to {patient}.",
                   f"{agent} is released above the table next to {patient}.")
        return sentence(options, rng)

    def sample_scene(self, rng, space):
        n = int(rng.integers(OBJECT_COUNT[space.name][0], OBJECT_COUNT[space.name][1] + 1))
        shape = str(rng.choice(["cube", "cylinder", "plate"]))
        if shape == "plate":
            patient = ObjectSpec(name="yellow_plate", shape="plate", color="yellow",
                                 size=(space.uniform(rng, "plate_half"), PLATE_HALF_THICKNESS),
                                 mass=space.uniform(rng, "mass"), friction=space.uniform(rng, "friction"),
                                 restitution=space.uniform(rng, "restitution"))
        else:
            patient = _shaped(shape, "yellow", rng, space)
        p_xy = rng.uniform(-0.08, 0.08, size=2)
        patient.pos = (float(p_xy[0]), float(p_xy[1]), patient.half_height + 1e-3)
        agent = _shaped(str(rng.choice(["ball", "cube"])), "red", rng, space)
        reach = OFFSET_SPREAD * (patient.footprint + agent.radius_xy)
        radius, angle = reach * np.sqrt(rng.uniform()), rng.uniform(-np.pi, np.pi)
        a_xy = p_xy + radius * np.array([np.cos(angle), np.sin(angle)])
        height = rng.uniform(*DROP_HEIGHT[space.name])
        agent.pos = (float(a_xy[0]), float(a_xy[1]), 2 * patient.half_height + agent.half_height + height)
        distractors = place_distractors(rng, space, [patient, agent], n - 2)
        toss, heading = rng.uniform(*TOSS_SPEED[space.name]), rng.uniform(-np.pi, np.pi)
        return [agent, patient, *distractors], {agent.name: toss * np.array([np.cos(heading), np.sin(heading), 0.0])}
