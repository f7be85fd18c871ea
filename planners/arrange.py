"""What can stand on what, as the verifier believes it, and the arrangements a goal needs.

A verifier (the learned world model, or the simulator for the oracle) is asked, at each search,
the pairwise question a block-stacking planner keeps asking: placed on ``t``, does ``o`` stay?
Every ordered pair is imagined from one probe scene in which every object stands alone on the
table (``probe_layout``): one batched call. That is the *support relation* ``P[o, t]``.

From it, ``arrangements`` lists the tower arrangements that satisfy the goal symbolically (an
``on`` / ``on_table`` conjunction; a free-order ``tower_height(h)``: every ordered choice of h
objects), each with the support it needs at its weakest link. That gives the planner two things
its search lacks:

- **positive evidence for infeasibility**: a goal is declared infeasible only when every
  arrangement that satisfies it needs a support the verifier rejects (weakest link below
  ``DECLARE_BELOW``, e.g. anything on a ball), not merely because a short search found no plan;
- **plans to try** when the search finds none that verifies: the shortest Blocksworld move
  sequences (``planbench.optimal_moves``) to the best supported arrangements, which the verifier
  scores beside the search's own plans; the best of them is executed when nothing scores better.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from foretell.envs import Goal

from .planbench import optimal_moves
from .tasks import moves_to_actions, symbolic_state

DECLARE_BELOW = 0.75
"""A goal is declared infeasible when its best arrangement's weakest support is below this
(the verifier doubts some placement every arrangement needs). Chosen on the stack-physics-v0 val
split (the probe alone, 50 tasks): feasible goals' best support is 0.875-1.0 with both skill-AXc
and skill-AXs; infeasible goals' is 0.0-0.375 with skill-AXc and 0.0-0.5 with skill-AXs (0.5,
first chosen from skill-AXc alone, left two skill-AXs val goals undeclared)."""
BLOCKED_FACTOR = 0.5
"""A placement that already failed in the real scene keeps this share of its support."""
MAX_ARRANGEMENTS = 6
"""Arrangement plans handed to the search per decision (best first): the search scores them all
from the current scene, which also decides between arrangements the probe rates alike."""
PROBE_GAP = 0.03  # m between footprints in the probe scene


@dataclass(frozen=True)
class Arrangement:
    """A set of towers satisfying the goal: ``on`` (upper, lower) pairs, ``on_table`` bases; its
    weakest support ``weakest`` and the product of its supports ``joint`` under the relation."""

    on: tuple[tuple[str, str], ...]
    on_table: tuple[str, ...]
    weakest: float
    joint: float


def probe_layout(objects: list) -> np.ndarray:
    """``(N, 3)`` positions putting every object upright on the table, alone, on a centred grid
    (columns of ``ceil(sqrt(N))``) spaced by the widest footprint plus ``PROBE_GAP``."""
    n = len(objects)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    pitch = 2 * max(o.radius_xy for o in objects) + PROBE_GAP
    grid = [((c - (cols - 1) / 2) * pitch, (r - (rows - 1) / 2) * pitch) for r in range(rows) for c in range(cols)]
    return np.array([(x, y, o.half_height + 1e-3) for (x, y), o in zip(grid, objects, strict=False)])


def arrangements(goal: Goal, names: list[str], support: np.ndarray) -> list[Arrangement] | None:
    """The arrangements satisfying ``goal``, most supported first (weakest link, then joint).

    Args:
        goal: ``on`` / ``on_table`` predicates, or one ``tower_height`` alone.
        names: object names, the rows and columns of ``support``.
        support: ``(N, N)`` p(row object stays when placed on column object).

    Returns:
        The arrangements (the best few hundred at most); ``[]`` when none exists (a tower taller
        than the objects); None for a goal of another form (the caller keeps its own rule).
    """
    preds = list(goal.predicates)
    kinds = {p.name for p in preds}
    index = {n: i for i, n in enumerate(names)}
    support = np.asarray(support, dtype=float)
    if kinds <= {"on", "on_table"}:
        on = tuple((str(p.args[0]), str(p.args[1])) for p in preds if p.name == "on")
        links = [support[index[u], index[v]] for u, v in on]
        table = tuple(str(p.args[0]) for p in preds if p.name == "on_table")
        return [Arrangement(on, table, float(min(links, default=1.0)), float(np.prod(links)))]
    if kinds != {"tower_height"} or len(preds) != 1:
        return None
    height = int(preds[0].args[0])
    if height > len(names):
        return []
    if height <= 1:
        return [Arrangement((), (), 1.0, 1.0)]
    chains = np.array(list(itertools.permutations(range(len(names)), height)))  # (M, h) bottom -> top
    links = support[chains[:, 1:], chains[:, :-1]]  # (M, h-1): each object on the one below
    weakest, joint = links.min(axis=1), links.prod(axis=1)
    order = np.lexsort((-joint, -np.round(weakest, 2)))[:256]
    return [Arrangement(tuple((names[c[k + 1]], names[c[k]]) for k in range(height - 1)), (names[c[0]],),
                        float(weakest[i]), float(joint[i])) for i, c in ((i, chains[i]) for i in order)]


class Probe(NamedTuple):
    """What ``plan_arrangements`` found: ``evidence`` that the goal can be achieved (the best
    arrangement's weakest support; None: a goal ``arrangements`` does not handle; 0.0: no
    arrangement exists), move ``plans`` to the best supported arrangements, and the ``cappers``:
    objects nothing stays on (every support on them below ``DECLARE_BELOW``)."""

    evidence: float | None
    plans: list[list[dict]]
    cappers: frozenset[str]


def plan_arrangements(env, verifier, goal: Goal, blocked: Collection[tuple[str, str]] = (),
                      limit: int = MAX_ARRANGEMENTS) -> Probe:
    """Ask ``verifier`` which object stays on which (``verifier.probe``, every ordered pair from the
    probe scene, one call), and plan moves to the arrangements satisfying ``goal`` it supports best.

    A placement that failed in the real scene (``blocked``) keeps ``BLOCKED_FACTOR`` of its support.

    Returns:
        A ``Probe``: the evidence that the goal can be achieved, the shortest move plans from the
        current scene to the ``limit`` best arrangements whose weakest support is at least
        ``DECLARE_BELOW`` (equal support: fewer moves first), and the objects nothing stays on.
    """
    names = [n for n, present in zip(env.unwrapped.object_names, env.unwrapped.present, strict=True) if present]
    pairs = [(o, t) for o in names for t in names if o != t]
    p = verifier.probe(env, [[pair] for pair in pairs])
    p = p * np.array([BLOCKED_FACTOR if pair in blocked else 1.0 for pair in pairs])
    support = np.zeros((len(names), len(names)))
    support[[names.index(o) for o, _ in pairs], [names.index(t) for _, t in pairs]] = p
    cappers = frozenset(t for j, t in enumerate(names) if support[:, j].max(initial=0.0) < DECLARE_BELOW)
    found = arrangements(goal, names, support)
    if found is None:
        return Probe(None, [], cappers)
    if not found:
        return Probe(0.0, [], cappers)
    below = symbolic_state(env)
    plans: list[tuple[tuple, list[tuple[str, str]]]] = []
    for arrangement in found[: 8 * limit]:
        if arrangement.weakest < DECLARE_BELOW:
            break
        try:
            moves = optimal_moves(below, list(arrangement.on), list(arrangement.on_table))
        except ValueError:  # on-facts no arrangement of blocks satisfies (a cycle)
            continue
        if moves:
            plans.append(((-round(arrangement.weakest, 2), len(moves), -arrangement.joint), moves))
    plans.sort(key=lambda kv: kv[0])
    return Probe(found[0].weakest, [moves_to_actions(env, moves) for _, moves in plans[:limit]], cappers)
