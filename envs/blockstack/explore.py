"""Exploration policy for BlockStack skills: the placements a planner asks a world model about.

A world model used as a verifier is queried on every candidate a planner considers, most of them
bad: a cube on a ball, a heavy block on a small one, a tower in an order the instruction allows
but physics does not. The expert (and the noisy expert, whose random skills mostly drop objects
at random table points) almost never makes those moves, so a model trained on its data has not
seen them fail (measured: 13 of the 2,049 placements on objects in ``skills-A-train`` were on a
ball; docs/results.md, "Skill outcomes"). ``StackExplorer`` makes them, seeded:

- ``tower`` (share 0.55): put a random object that is not in the tallest pile on that pile's top
  object, with the env's own placement error (physics-blind tower building, in random order);
- ``stack`` (0.25): a random object on a random other object, centred, or with a small offset
  (N(0, 1 cm) each way) in a third of them;
- ``table`` (0.15): a random object to a uniformly random table point;
- ``push`` (0.05): a random object, random direction, 2-12 cm.
"""

from __future__ import annotations

import numpy as np

from ..sim import physics
from ..sim.scene import WORKSPACE_HALF

MOVES = ("tower", "stack", "table", "push")
SHARES = (0.55, 0.25, 0.15, 0.05)
OFFSET_STD = 0.01  # m, the off-centre placements of ``stack``
TABLE_HALF = WORKSPACE_HALF - 0.04  # m, table points stay this far inside the workspace


class StackExplorer:
    """Seeded random skills biased to stacking (module docstring). ``act()`` gives the next
    named action for the env's current scene."""

    def __init__(self, env, rng: np.random.Generator) -> None:
        self.env = env.unwrapped
        self.rng = rng

    def act(self) -> dict:
        env, rng = self.env, self.rng
        names = env.object_names
        n = len(names)
        move = MOVES[int(rng.choice(len(MOVES), p=SHARES))]
        if move == "push" or n < 2:
            return {"skill": "push", "object": names[int(rng.integers(n))],
                    "direction": float(rng.uniform(-180.0, 180.0)), "distance": float(rng.uniform(0.02, 0.12))}
        if move == "table":
            x, y = rng.uniform(-TABLE_HALF, TABLE_HALF, size=2)
            return {"skill": "pick_place", "object": names[int(rng.integers(n))], "target": "table",
                    "dx": float(x), "dy": float(y)}
        dx = dy = 0.0
        if move == "tower":
            pile = self._tallest_pile()
            rest = [name for name in names if name not in pile]
            if not rest:  # everything is one pile: take its top off to a random table point
                x, y = rng.uniform(-TABLE_HALF, TABLE_HALF, size=2)
                return {"skill": "pick_place", "object": pile[-1], "target": "table", "dx": float(x), "dy": float(y)}
            obj, target = rest[int(rng.integers(len(rest)))], pile[-1]
        else:
            obj, target = (names[int(i)] for i in rng.choice(n, size=2, replace=False))
            if rng.random() < 1 / 3:
                dx, dy = (float(v) for v in rng.normal(0.0, OFFSET_STD, size=2))
        return {"skill": "pick_place", "object": obj, "target": target, "dx": dx, "dy": dy}

    def _tallest_pile(self) -> list[str]:
        """Names of the tallest chain of support on the table, bottom to top (ties: the lowest
        scene row first)."""
        tt = self.env.tabletop
        on, on_table = physics.support_matrix(tt.scene, tt.data)
        best: list[int] = []
        for base in np.flatnonzero(on_table):
            chain, seen = [int(base)], {int(base)}
            while True:
                above = [int(a) for a in np.flatnonzero(on[:, chain[-1]]) if int(a) not in seen]
                if not above:
                    break
                chain.append(above[0])
                seen.add(above[0])
            if len(chain) > len(best):
                best = chain
        return [tt.scene.names[i] for i in best or [0]]
