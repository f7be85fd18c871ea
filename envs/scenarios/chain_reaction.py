"""ChainReaction: a multi-stage machine: a flick or a ramp, a row of dominoes, a target.

``foretell/ChainReaction-v0``. Passive physics (see ``envs.scenarios.base.ScenarioEnv``).

Stages along one line (across the front camera's view), Roll/Collide then Dominoes: a launcher
ball of a distractor colour, either flicked (Collide's speeds) or rolling down a ramp (Roll's
slopes), runs into a row of dominoes (distractor colours) ending in the red agent domino; the
chain topples, and the red domino falls towards the yellow patient beyond it: a cube, a cylinder
or (one time in three) a fragile glass that breaks when struck hard enough (GlassBreak's
thresholds). The launcher's aim is off by up to ``AIM_SPREAD`` x (its radius + half the
domino's width), so some launches miss, and the patient stands ``PATIENT_GAP`` x the domino
height beyond the red domino (across the reach of a falling domino) and a little off the line,
so whether the red domino reaches it is not readable from the first frame. Space A: 3-4 objects
(a flick; the red domino alone or after one more); space B: 5-6 (a ramp and one or two dominoes
before the red, or a flick and two or three). Object-contact label: the red domino touches the
yellow patient within the horizon (3 s). When it works, the direct causal graph is a chain:
(ramp ->) launcher -> dominoes -> red -> yellow.

Why the red agent is a domino and not a ball: measured, a domino falling onto a resting ball
pins it to the table rather than launching it, and with this suite's near-inelastic restitution
(space A 0-0.06) a struck resting ball takes only a fraction of the striker's speed, so chains
that end in a ball rarely reach a target.
"""

from __future__ import annotations

import numpy as np

from ..sim.captions import object_phrase, sentence
from ..sim.ramps import ball_on_ramp, make_ramp
from .base import ScenarioEnv
from .collide import LAUNCH_SPEED, OBJECT_COUNT, _shaped
from .dominoes import SAFE_GAP, lay_chain, make_domino
from .glass_break import GlassBreakEnv
from .roll import SLOPE_DEG

AIM_SPREAD = 1.3  # launcher aim error, in multiples of (launcher radius + domino half-width)
FIRST_GAP = (0.06, 0.10)  # m from where the launcher leaves to the first domino
# red domino's front face to the patient, in domino heights (B's longer chains arrive faster)
PATIENT_GAP = {"A": (0.2, 1.1), "B": (0.35, 1.3)}
PATIENT_SIDE = 0.3  # patient offset across the line, in domino half-widths
GLASS_P = 1 / 3


class ChainReactionEnv(ScenarioEnv):
    __doc__ = __doc__
    FRAGILITY = GlassBreakEnv.FRAGILITY

    def intro(self, rng):
        launcher = object_phrase(self.initial_objects[0], self.space)
        via = "rolls down the ramp" if any(o.shape == "ramp" for o in self.initial_objects) else "is flicked forward"
        options = (f"{launcher} {via} and sets off a chain reaction.", f"{launcher} {via}.",
                   f"A chain reaction starts: {launcher} {via}.")
        return sentence(options, rng)

    def sample_scene(self, rng, space):
        n = int(rng.integers(OBJECT_COUNT[space.name][0], OBJECT_COUNT[space.name][1] + 1))
        colors = [str(c) for c in rng.permutation([c for c in space.colors if c not in ("red", "yellow")])]
        use_ramp = space.name == "B" and rng.uniform() < 0.5
        yaw = rng.choice([-0.5, 0.5]) * np.pi + rng.uniform(-0.5, 0.5)
        heading = np.array([np.cos(yaw), np.sin(yaw)])
        side = np.array([-heading[1], heading[0]])
        # where the launcher leaves from (a ramp rises behind it: start nearer the middle)
        cursor = -(0.1 if use_ramp else 0.2) * heading + rng.uniform(-0.03, 0.03, size=2)
        launcher = _shaped("ball", colors.pop(), rng, space)
        half_height = space.uniform(rng, "domino_half_height")
        dominoes = [make_domino(c, half_height, space, rng) for c in [*colors[: n - 3 - int(use_ramp)], "red"]]
        gaps = rng.uniform(*SAFE_GAP, size=len(dominoes) - 1) * 2 * half_height
        start = cursor + (launcher.size[0] + rng.uniform(*FIRST_GAP)) * heading
        lay_chain(dominoes, start, yaw, gaps, rng)
        aim_error = rng.uniform(-AIM_SPREAD, AIM_SPREAD) * (launcher.size[0] + dominoes[0].size[1])
        scenery, velocities = [], {}
        if use_ramp:
            slope = np.radians(rng.uniform(*SLOPE_DEG[space.name]))
            scenery.append(make_ramp(colors[-1], cursor + aim_error * side, yaw, slope,
                                     space.uniform(rng, "friction")))
            ball_on_ramp(launcher, scenery[0], yaw, slope)
        else:
            launcher.pos = (float(cursor[0]), float(cursor[1]), launcher.half_height + 1e-3)
            aim = yaw + np.arctan2(aim_error, float(np.linalg.norm(start - cursor)))
            speed = rng.uniform(*LAUNCH_SPEED[space.name])
            velocities[launcher.name] = speed * np.array([np.cos(aim), np.sin(aim), 0.0])
        patient = self._patient(rng, space)
        red = dominoes[-1]
        along = red.size[0] + rng.uniform(*PATIENT_GAP[space.name]) * 2 * half_height + patient.radius_xy
        across = rng.uniform(-PATIENT_SIDE, PATIENT_SIDE) * red.size[1]
        p_xy = np.asarray(red.pos[:2]) + along * heading + across * side
        patient.pos = (float(p_xy[0]), float(p_xy[1]), patient.half_height + 1e-3)
        # launcher first: the intro names env.initial_objects[0]
        return [launcher, red, patient, *dominoes[:-1], *scenery], velocities

    def _patient(self, rng, space):
        if rng.uniform() < GLASS_P:
            return GlassBreakEnv.make_patient(self, rng, space)
        return _shaped(str(rng.choice(["cube", "cylinder"])), "yellow", rng, space)
