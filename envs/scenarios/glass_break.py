"""GlassBreak: a red ball is launched at a fragile yellow glass, which shatters if hit hard enough.

``foretell/GlassBreak-v0``. Passive physics (see ``envs.scenarios.base.ScenarioEnv``); the layout and
aim are Collide's (about half the launches reach the glass). The glass is an upright translucent
cylinder with a break threshold (``fragility``, N*s): when the impulse the ball (or anything)
delivers within 20 ms exceeds it, the glass is replaced by eight shards that fly apart
(``envs.sim.passive``), a ``break`` event is emitted and the direct causal graph gets a
``kind="break"`` edge from the striker. So the ball's mass and speed, and the glass's
threshold, cause breaking. Space A: launch 0.5-1.2 m/s, threshold 0.02-0.05 N*s; space B:
1.3-2.0 m/s, 0.15-0.35 N*s. Object-contact label: the ball touches the glass within 3 s.
"""

from __future__ import annotations

import numpy as np

from ..sim.properties import PropertySpace
from ..sim.scene import ObjectSpec
from .collide import CollideEnv

GLASS_RADIUS = {"A": (0.022, 0.028), "B": (0.030, 0.034)}
GLASS_HALF_HEIGHT = {"A": (0.035, 0.045), "B": (0.048, 0.055)}


class GlassBreakEnv(CollideEnv):
    __doc__ = __doc__
    LAUNCH_SPEED = {"A": (0.5, 1.2), "B": (1.3, 2.0)}
    FRAGILITY = {"A": (0.02, 0.05), "B": (0.15, 0.35)}

    def make_patient(self, rng: np.random.Generator, space: PropertySpace) -> ObjectSpec:
        return ObjectSpec(
            name="yellow_glass", shape="glass", color="yellow",
            size=(float(rng.uniform(*GLASS_RADIUS[space.name])), float(rng.uniform(*GLASS_HALF_HEIGHT[space.name]))),
            mass=space.uniform(rng, "mass"), friction=space.uniform(rng, "friction"),
            restitution=space.uniform(rng, "restitution"), fragile=True,
            fragility=float(rng.uniform(*self.FRAGILITY[space.name])))
