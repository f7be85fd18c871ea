"""BlockStack scenes: how many objects, of which shapes, sizes and materials, and where they start.

Every draw comes from the generator passed in (the env's ``np_random``) and the property space
(A: train, B: held-out; ``envs.sim.properties``).
"""

from __future__ import annotations

import numpy as np

from ..sim.properties import PLATE_HALF_THICKNESS, PropertySpace
from ..sim.scene import WORKSPACE_HALF, ObjectSpec

SHAPE_PROBS = {"cube": 0.4, "cylinder": 0.2, "ball": 0.2, "plate": 0.2}
MAX_BALLS = 2
PRESTACK_PROB = 0.35


def sample_objects(rng: np.random.Generator, space: PropertySpace, need_ball: bool) -> list[ObjectSpec]:
    """Draw object count, shapes, colours and physical properties from ``space``."""
    n = int(rng.integers(space.count[0], space.count[1] + 1))
    shapes = list(rng.choice(list(SHAPE_PROBS), size=n, p=list(SHAPE_PROBS.values())))
    min_supports = 1 if n == 2 else 2
    for k in range(n):  # cap balls, keep enough flat-topped supports
        if shapes[k] == "ball" and (shapes[:k].count("ball") >= MAX_BALLS
                                    or n - shapes.count("ball") < min_supports):
            shapes[k] = "cube"
    if need_ball and "ball" not in shapes:
        shapes[int(rng.integers(n))] = "ball"
    colors = rng.permutation(space.colors)[:n]
    objects = []
    for shape, color in zip(shapes, colors, strict=True):
        if shape == "cube":
            size = (space.uniform(rng, "cube_half"),)
        elif shape == "cylinder":
            size = (space.uniform(rng, "cylinder_radius"), space.uniform(rng, "cylinder_half_height"))
        elif shape == "ball":
            size = (space.uniform(rng, "ball_radius"),)
        else:
            size = (space.uniform(rng, "plate_half"), PLATE_HALF_THICKNESS)
        objects.append(ObjectSpec(
            name=f"{color}_{shape}", shape=shape, color=str(color), size=size,
            mass=space.uniform(rng, "mass"), friction=space.uniform(rng, "friction"),
            restitution=space.uniform(rng, "restitution"), yaw=float(rng.uniform(-np.pi, np.pi))))
    return objects


def sample_layout(rng: np.random.Generator, objects: list[ObjectSpec]) -> None:
    """Place objects on the table without overlap; sometimes put one flat object on another."""
    n = len(objects)
    stacked_on = -1
    top = -1
    if n >= 3 and rng.random() < PRESTACK_PROB:
        bases = [i for i, o in enumerate(objects) if o.shape != "ball"]
        stacked_on = bases[rng.integers(len(bases))]
        top = int(rng.choice([i for i in range(n) if i != stacked_on]))
    order = [i for i in range(n) if i != top]
    for _ in range(100):  # restart from scratch when a late object finds no room
        placed: dict[int, np.ndarray] = {}
        for i in order:
            for _ in range(200):
                xy = rng.uniform(-WORKSPACE_HALF + 0.03, WORKSPACE_HALF - 0.03, size=2)
                if all(np.linalg.norm(xy - p) > objects[i].radius_xy + objects[j].radius_xy + 0.02
                       for j, p in placed.items()):
                    placed[i] = xy
                    break
            else:
                break
        if len(placed) == len(order):
            break
    else:
        raise RuntimeError("could not place objects without overlap; the workspace is too small")
    for i, xy in placed.items():
        objects[i].pos = (float(xy[0]), float(xy[1]), objects[i].half_height + 1e-3)
    if top >= 0:
        base = objects[stacked_on]
        objects[top].pos = (base.pos[0], base.pos[1], 2 * base.half_height + objects[top].half_height + 2e-3)
        objects[top].yaw = base.yaw
