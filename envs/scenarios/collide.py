"""Collide: a red ball is launched across the table at a yellow target, among distractors.

``foretell/Collide-v0``. Passive physics (see ``envs.scenarios.base.ScenarioEnv`` for spaces, info,
interventions and ground truth).

Scene: the yellow patient (cube or cylinder) at a random spot; the red ball 0.18-0.30 m away,
launched towards the patient with an aim error drawn uniformly within +-2 x the angle at which
it would just graze the patient (so about half the launches hit, before distractors and
friction have their say). Distractors (cubes, cylinders, balls) stand elsewhere, some in the
way. Space A: 3-4 objects, launch 0.5-1.0 m/s; space B: 5-6 objects, launch 1.2-1.8 m/s; masses,
sizes, frictions, colours from the property space. Object-contact label: the ball touches the
patient within the horizon (3 s).
"""

from __future__ import annotations

import numpy as np

from ..sim.captions import object_phrase, sentence
from ..sim.properties import PropertySpace
from ..sim.scene import WORKSPACE_HALF, ObjectSpec
from .base import ScenarioEnv

LAUNCH_SPEED = {"A": (0.5, 1.0), "B": (1.2, 1.8)}
OBJECT_COUNT = {"A": (3, 4), "B": (5, 6)}
AIM_SPREAD = 2.0  # aim error range, in multiples of the grazing angle


def _shaped(shape: str, color: str, rng: np.random.Generator, space: PropertySpace) -> ObjectSpec:
    if shape == "cube":
        size = (space.uniform(rng, "cube_half"),)
    elif shape == "cylinder":
        size = (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height"))
    else:
        size = (space.uniform(rng, "ball_radius"),)
    return ObjectSpec(name=f"{color}_{shape}", shape=shape, color=color, size=size, mass=space.uniform(rng, "mass"),
                      friction=space.uniform(rng, "friction"), restitution=space.uniform(rng, "restitution"),
                      yaw=float(rng.uniform(-np.pi, np.pi)))


def place_distractors(rng: np.random.Generator, space: PropertySpace, placed: list[ObjectSpec], count: int,
                      half: float = WORKSPACE_HALF, colors: list[str] | None = None) -> list[ObjectSpec]:
    """Add ``count`` distractors (non-red, non-yellow colours unless ``colors`` is given) on the
    table, clear of ``placed`` and of each other."""
    colors = [c for c in space.colors if c not in ("red", "yellow")] if colors is None else colors
    colors = list(rng.permutation(colors))
    out = []
    for k in range(count):
        obj = _shaped(str(rng.choice(["cube", "cylinder", "ball"])), str(colors[k]), rng, space)
        for _ in range(500):
            xy = rng.uniform(-half, half, size=2)
            if all(np.linalg.norm(xy - np.array(o.pos[:2])) > obj.radius_xy + o.radius_xy + 0.02
                   for o in placed + out):
                obj.pos = (float(xy[0]), float(xy[1]), obj.half_height + 1e-3)
                out.append(obj)
                break
    return out


class CollideEnv(ScenarioEnv):
    __doc__ = __doc__

    LAUNCH_SPEED = LAUNCH_SPEED

    def intro(self, rng):
        agent = object_phrase(next(o for o in self.sim.objects if o.name == self.agent_name), self.space)
        options = (f"{agent} is launched across the table.", f"{agent} rolls across the table.",
                   f"Someone flicks {agent} across the table.")
        return sentence(options, rng)

    def make_patient(self, rng: np.random.Generator, space: PropertySpace) -> ObjectSpec:
        return _shaped(str(rng.choice(["cube", "cylinder"])), "yellow", rng, space)

    def sample_scene(self, rng, space):
        n = int(rng.integers(OBJECT_COUNT[space.name][0], OBJECT_COUNT[space.name][1] + 1))
        patient = self.make_patient(rng, space)
        p_xy = rng.uniform(-0.08, 0.08, size=2)
        patient.pos = (float(p_xy[0]), float(p_xy[1]), patient.half_height + 1e-3)
        agent = _shaped("ball", "red", rng, space)
        distance = rng.uniform(0.18, 0.30)
        bearing = rng.uniform(-np.pi, np.pi)
        a_xy = p_xy + distance * np.array([np.cos(bearing), np.sin(bearing)])
        agent.pos = (float(a_xy[0]), float(a_xy[1]), agent.half_height + 1e-3)
        graze = np.arctan2(agent.radius_xy + patient.radius_xy, distance)
        aim = bearing + np.pi + rng.uniform(-AIM_SPREAD, AIM_SPREAD) * graze
        speed = rng.uniform(*self.LAUNCH_SPEED[space.name])
        velocity = np.array([speed * np.cos(aim), speed * np.sin(aim), 0.0])
        distractors = place_distractors(rng, space, [patient, agent], n - 2)
        return [agent, patient, *distractors], {agent.name: velocity}
