"""Roll: a red ball rolls down a ramp towards a yellow target, among distractors.

``foretell/Roll-v0``. Passive physics (see ``envs.scenarios.base.ScenarioEnv``).

Scene: a ramp (scenery: frozen, never moves) whose low end meets the table; the red ball starts
at rest near its top and rolls down the fall line, leaving the ramp at about
sqrt(10/7 g h) for a drop of h. The yellow patient stands 0.08-0.16 m beyond the ramp's foot,
offset sideways by up to ``AIM_SPREAD`` x (ball radius + patient radius) from the fall line, so
about half the runs hit it. Distractors stand elsewhere, some in the way. Space A: 3-4 objects
(the ramp counts), ramp slope 12-20 degrees; space B: 5-6 objects, 24-32 degrees. Object-contact
label: the ball touches the patient within the horizon (3 s).
"""

from __future__ import annotations

import numpy as np

from ..sim.captions import object_phrase, sentence
from ..sim.ramps import ball_on_ramp, make_ramp
from .base import ScenarioEnv
from .collide import OBJECT_COUNT, _shaped, place_distractors

SLOPE_DEG = {"A": (12.0, 20.0), "B": (24.0, 32.0)}
AIM_SPREAD = 2.0


class RollEnv(ScenarioEnv):
    __doc__ = __doc__

    def intro(self, rng):
        objects = {o.name: o for o in self.sim.objects}
        agent = object_phrase(objects[self.agent_name], self.space)
        options = (f"{agent} rolls down the ramp.", f"{agent} is let go at the top of the ramp.",
                   f"{agent} starts rolling down the ramp.")
        return sentence(options, rng)

    def sample_scene(self, rng, space):
        n = int(rng.integers(OBJECT_COUNT[space.name][0], OBJECT_COUNT[space.name][1] + 1))
        yaw = rng.uniform(-np.pi, np.pi)
        slope = np.radians(rng.uniform(*SLOPE_DEG[space.name]))
        heading = np.array([np.cos(yaw), np.sin(yaw)])
        side = np.array([-heading[1], heading[0]])
        foot = 0.06 * heading + rng.uniform(-0.03, 0.03, size=2)
        colors = [c for c in space.colors if c not in ("red", "yellow")]
        ramp = make_ramp(str(rng.choice(colors)), foot, yaw, slope, space.uniform(rng, "friction"))
        agent = _shaped("ball", "red", rng, space)
        ball_on_ramp(agent, ramp, yaw, slope)
        patient = _shaped(str(rng.choice(["cube", "cylinder"])), "yellow", rng, space)
        offset = rng.uniform(-AIM_SPREAD, AIM_SPREAD) * (agent.radius_xy + patient.radius_xy)
        p_xy = foot + rng.uniform(0.08, 0.16) * heading + offset * side
        patient.pos = (float(p_xy[0]), float(p_xy[1]), patient.half_height + 1e-3)
        others = place_distractors(rng, space, [patient, agent, ramp], n - 3,
                                   colors=[c for c in colors if c != ramp.color])
        return [agent, patient, ramp, *others], {}
