"""Planners without an LLM: uniformly random steps, and cross-entropy search on the world model.

``cem_plan`` is the DINO-WM / TD-MPC2 recipe for a discrete skill space: keep one categorical
distribution per plan step over "move object o onto target t (or stop)", sample a population of
plans from it, score them all with the verifier in one batched call, refit the distributions to
the elite plans, repeat. Every single step is first imagined exhaustively (a few dozen, one
batched call): the best one is the fallback plan, and the elite single steps seed the first
step's distribution. It knows nothing but the object names, the skill schema and the verifier,
unless it is given ``seeds``: plans proposed by someone else (the LLM, in ``llm+wm``), which are
scored in that first call and pull every step's starting distribution towards their steps.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from .arrange import DECLARE_BELOW, plan_arrangements
from .plans import check_preconditions
from .tasks import symbolic_state

TABLE_SPOTS = ((0.14, 0.14), (0.14, -0.14), (-0.14, 0.14), (-0.14, -0.14))
"""Table positions (m) search may put an object on: near the workspace corners (half-width 0.22 m),
clear of a central tower."""
POPULATION = 32
ELITES = 6
ITERATIONS = 3
SMOOTHING = 0.3  # keep 30% of the old distribution: plain CEM collapses onto one plan too early
SEED_WEIGHT = 0.5  # share of each step's starting distribution given to the seed plans' steps
INFEASIBLE_BELOW = 0.15
"""A plan succeeds for the search when p >= ``INFEASIBLE_BELOW``. When none does, the search
declares the goal infeasible if the arrangement probe (``arrange.plan_arrangements``) says no
arrangement satisfying it is likely to stand, even if some plan makes progress (a taller tower
than the goal allows is progress that leads nowhere). Otherwise it takes the best partial plan,
the one that brings the scene closest to the goal's shape, and searches again from where it leads
(receding horizon); if none even improves on the scene as it is, it takes the move plan to the
arrangement the verifier rates best from here. Without the probe (``arrange=False``) it declares
whenever nothing succeeds or progresses."""


def _choices(names: list[str], exclude: Collection[tuple[str, str]] = ()) -> list[dict | None]:
    """Every step a plan may take (None: stop here), but the (object, target) placements in ``exclude``."""
    steps: list[dict | None] = [None]
    for obj in names:
        steps += [{"skill": "pick_place", "object": obj, "target": t, "dx": 0.0, "dy": 0.0}
                  for t in names if t != obj and (obj, t) not in exclude]
        steps += [{"skill": "pick_place", "object": obj, "target": "table", "dx": x, "dy": y}
                  for x, y in TABLE_SPOTS]
    return steps


def random_action(base, rng: np.random.Generator) -> dict:
    """One uniformly random pick-and-place step in the env's current scene."""
    steps = _choices(list(base.tabletop.scene.names))[1:]
    return dict(steps[int(rng.integers(len(steps)))])


def cem_plan(env, verifier, rng: np.random.Generator, max_len: int | None = None, population: int = POPULATION,
             iterations: int = ITERATIONS, seeds: Sequence[list[dict]] = (),
             exclude: Collection[tuple[str, str]] = (), arrange: bool = True) -> tuple[list[dict], float]:
    """Search plans with the cross-entropy method on ``verifier`` (a world model, usually): plans of at
    most ``max_len`` steps (default: one per object), ``population`` per iteration; ``seeds``:
    candidate plans to start from (each is scored, and the search starts around their steps);
    ``exclude``: (object, target) placements no plan may make (ones that failed in this scene);
    ``arrange``: ask the verifier which goal arrangements can stand (``arrange.plan_arrangements``):
    their move plans are seeds too, and only that probe may declare the goal infeasible (False:
    the ablation, which declares whenever the search finds nothing). Every plan keeps Blocksworld's
    preconditions (``plans.check_preconditions``): a sampled plan stops before its first step that
    moves a covered object or puts one on a covered object, and seeds are cut there too.

    Returns:
        The best plan found (by success probability, then goal progress, then safety) and its
        success probability; when the search finds nothing (see ``INFEASIBLE_BELOW``), the plan to
        the arrangement the verifier rates best from here, or ``[declare_infeasible]`` when none is likely to stand.
    """
    base = env.unwrapped
    evidence, arranged, cappers = (plan_arrangements(env, verifier, base.goal, exclude) if arrange
                                   else (None, [], frozenset()))
    names = list(base.tabletop.scene.names)
    below = symbolic_state(env)
    steps = _choices(names, exclude)
    length = max_len or len(names)

    def valid(plan):  # its prefix that keeps Blocksworld's preconditions (what moves, and where to, are clear)
        return plan[: check_preconditions(plan, below)[0]]

    firsts = np.array([i for i in range(1, len(steps)) if valid([steps[i]])])  # the steps that may come first
    probs = np.full((length, len(steps)), 1.0 / len(steps))  # (L, A)
    probs[0] = 0.0  # a plan takes at least one step, and a valid one
    probs[0, firsts] = 1.0 / len(firsts)

    def allowed(plan):
        return plan and not any((a.get("object"), a.get("target")) in exclude for a in plan)

    arranged = [plan for plan in arranged if allowed(plan)]
    given = [p for p in (valid(list(plan)[:length]) for plan in seeds if allowed(plan)) if p]
    seeds = given + arranged  # whole: an arrangement plan may take more steps than a searched one
    singles = [[dict(steps[i])] for i in firsts]
    scene_now = verifier.score(env, [[]] + singles + seeds, base.goal, cappers)
    now = scene_now.key(0)  # the scene as it is: the bar a plan must clear
    # Every single step, imagined exhaustively (one batched call, with the seed plans): the best is
    # the fallback plan and the first-step distribution CEM starts from (the elite single steps,
    # not uniform).
    order = scene_now.ranking()
    first = firsts[order[(order > 0) & (order <= len(singles))][:ELITES] - 1]
    top = int(order[order > 0][0])
    best_plan, best = (singles + seeds)[top - 1], scene_now.key(top)
    probs[0] = 0.5 * probs[0]
    probs[0, first] += 0.5 / len(first)
    if seeds:
        probs = (1 - SEED_WEIGHT) * probs + SEED_WEIGHT * _step_frequencies(seeds, steps, length)
    for _ in range(iterations):
        draws = np.stack([rng.choice(len(steps), size=population, p=row) for row in probs], axis=1)  # (P, L)
        plans = [valid(_plan(steps, row)) for row in draws]
        for row, plan in zip(draws, plans, strict=True):
            row[len(plan):] = 0  # a plan stops before its first step whose preconditions fail
        verdict = verifier.score(env, plans, base.goal, cappers)
        elite = verdict.ranking()[:ELITES]
        if verdict.key(int(elite[0])) > best:
            best, best_plan = verdict.key(int(elite[0])), plans[int(elite[0])]
        counts = np.zeros_like(probs)
        for row in draws[elite]:
            stopped = False
            for t, a in enumerate(row):
                counts[t, 0 if stopped else a] += 1
                stopped = stopped or a == 0
        probs = SMOOTHING * probs + (1 - SMOOTHING) * counts / counts.sum(axis=1, keepdims=True)
    if best[0] < INFEASIBLE_BELOW and evidence is not None and evidence < DECLARE_BELOW:
        return [{"skill": "declare_infeasible"}], best[0]  # nothing succeeds, and nothing can: progress or not
    if best[0] < INFEASIBLE_BELOW and best[1] <= now[1]:
        if evidence is None:
            return [{"skill": "declare_infeasible"}], best[0]
        if arranged:
            first = 1 + len(singles) + len(given)  # the arrangement plans' rows in the first call
            k = max(range(len(arranged)), key=lambda i: scene_now.key(first + i))
            return arranged[k], float(scene_now.p[first + k])
    return best_plan, best[0]


def _plan(steps: list[dict | None], row: np.ndarray) -> list[dict]:
    plan = []
    for a in row:
        if steps[a] is None:
            break
        plan.append(dict(steps[a]))
    return plan


def _step_frequencies(plans: Sequence[list[dict]], steps: list[dict | None], length: int) -> np.ndarray:
    """Per plan step, how often the ``plans`` take each of ``steps`` ``(L, A)``: a move to the
    table counts for every table spot of that object, a step that is not a pick-and-place (or a
    plan that has ended) as "stop"."""
    counts = np.zeros((length, len(steps)))
    keys = [None if a is None else (a["object"], a["target"]) for a in steps]
    for plan in plans:
        for t in range(length):
            a = plan[t] if t < len(plan) else None
            hits = [] if a is None or a.get("skill") != "pick_place" else \
                [i for i, k in enumerate(keys) if k == (a.get("object"), a.get("target"))]
            for i in hits or [0]:
                counts[t, i] += 1.0 / len(hits or [0])
    uniform = np.ones_like(counts)
    counts[0, 0] = uniform[0, 0] = 0.0  # a plan takes at least one step
    counts = np.where(counts.sum(axis=1, keepdims=True) > 0, counts, uniform)
    return counts / counts.sum(axis=1, keepdims=True)
