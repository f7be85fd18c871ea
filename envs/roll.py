"""Roll: a red ball rolls down a ramp towards a yellow target, among distractors.

``foretell/Roll-v0``. Passive physics (see ``envs.scenario.ScenarioEnv``).

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

from .captions import object_phrase, sentence
from .collide import OBJECT_COUNT, _shaped, place_distractors
from .scenario import ScenarioEnv
from .scene import ObjectSpec

SLOPE_DEG = {"A": (12.0, 20.0), "B": (24.0, 32.0)}
RAMP_HALF = (0.09, 0.035, 0.008)  # half-length, half-width, half-thickness
RAMP_MASS = 1.0  # kg; a frozen object's weld and armature hold it still under any load
AIM_SPREAD = 2.0


def ramp_quat(yaw: float, slope: float) -> tuple[float, float, float, float]:
    """Orientation of a ramp heading down along ``yaw`` at ``slope`` radians: yaw, then pitch."""
    qy = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    qp = np.array([np.cos(slope / 2), 0.0, np.sin(slope / 2), 0.0])
    w1, x1, y1, z1 = qy
    w2, x2, y2, z2 = qp
    return (float(w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2), float(w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2),
            float(w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2), float(w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2))


def make_ramp(color: str, foot_xy: np.ndarray, yaw: float, slope: float, friction: float) -> ObjectSpec:
    """A ramp whose top face meets the table at ``foot_xy`` and rises against ``yaw``."""
    half_l, _, half_t = RAMP_HALF
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    # the low top edge, at local (+L, 0, +T), sits on the table at the foot
    along = half_l * np.cos(slope) + half_t * np.sin(slope)
    centre_xy = foot_xy - along * heading
    centre_z = half_l * np.sin(slope) - half_t * np.cos(slope)
    return ObjectSpec(name=f"{color}_ramp", shape="ramp", color=color, size=RAMP_HALF, mass=RAMP_MASS,
                      friction=friction, restitution=0.0, pos=(float(centre_xy[0]), float(centre_xy[1]), centre_z),
                      quat=ramp_quat(yaw, slope))


def ball_on_ramp(ball: ObjectSpec, ramp: ObjectSpec, yaw: float, slope: float, from_top: float = 0.02) -> None:
    """Put ``ball`` at rest on ``ramp``'s top face, ``from_top`` metres below its upper edge."""
    half_l, _, half_t = ramp.size
    heading = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    down = np.cos(slope) * heading + np.array([0.0, 0.0, -np.sin(slope)])  # along the face, downhill
    normal = np.sin(slope) * heading + np.array([0.0, 0.0, np.cos(slope)])
    centre = np.asarray(ramp.pos)
    ball.pos = tuple(float(x) for x in centre + (-half_l + from_top) * down + (half_t + ball.size[0] + 5e-4) * normal)


class RollEnv(ScenarioEnv):
    __doc__ = __doc__

    def intro(self, rng):
        objects = {o.name: o for o in self.sim.objects0}
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
