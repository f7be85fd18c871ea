"""How sturdy the search's plans are under placement noise (``foretell eval plans``).

A verifier's p(success) is a belief about one scene; the real scene adds placement noise, and
whether a ball stays on top of a tall tower turns on a degree of tilt. One planning episode per
task says little about that (the same tower stands or falls with the draw), so this replays
plans in the simulator under many placement-noise seeds:

- the planner's **first plan** (``Planner.decide`` from the task's scene, exactly as a ``cem+wm``
  or ``llm+wm`` episode takes its first decision), repeating a placement that did not stay while its target stands
  where it stood (the loop's ``retries``): how often the goal is reached with at most r repeats,
  for each r in ``repeats``;
- the **candidates** the planner's verifier scored best (``candidates`` distinct plans, by their S-sample
  score), each replayed without repeats: how sturdy the plan each ranking rule picks is (the
  search's own S samples, or ``rescore_samples`` samples), against the sturdiest candidate (an
  oracle no planner has) and the mean candidate.

A diagnostic for choosing planner settings on validation tasks; it runs on any split.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .loop import Planner, _achieved, step_and_wait
from .tasks import PlanTask, aim_at_axis, make_env, symbolic_state
from .verify import WorldModelVerifier

NOISE_SEED_BASE = 10_000
"""Placement-noise seeds: the task's own seed first, then ``NOISE_SEED_BASE + k``."""


def replay(task: PlanTask, plan: Sequence[dict], noise_seed: int, max_repeats: int, *,
           wait: float, aim: bool) -> tuple[bool, int]:
    """Execute ``plan`` from ``task``'s scene with placement-noise seed ``noise_seed``; a placement
    that did not stay is made again while its target rests where it did, at most ``max_repeats``
    times in all, within the task's step budget. ``wait``: as the planner's (``PlannerConfig.wait``),
    seconds to let a scene still moving after a step come to rest before the step is judged; no
    default, so a direct call cannot silently judge steps otherwise than the planner it stands for.
    ``aim``: as the planner's (``PlannerConfig.aim``), placements on objects aimed at their pile's
    axis (``tasks.aim_at_axis``).

    Returns:
        (whether the goal held in a still scene after some step, the repeats made).
    """
    env, _, _ = make_env(dataclasses.replace(task, seed=int(noise_seed)))
    repeats = steps = k = 0
    try:
        while k < len(plan) and steps < task.max_steps:
            action = plan[k]
            support = symbolic_state(env).get(action.get("target"))
            terminated, truncated, info, _ = step_and_wait(env, aim_at_axis(env, action) if aim else action, wait)
            steps += 1
            if info["success"]:
                return True, repeats
            if terminated or truncated:
                break
            if _achieved(env, action, info):
                k += 1
            elif (repeats < max_repeats and action.get("target") not in (None, "table")
                  and symbolic_state(env).get(action["target"]) == support):
                repeats += 1
            else:
                break
        return False, repeats
    finally:
        env.close()


def plan_robustness(planner: Planner, tasks: Sequence[PlanTask], noise_seeds: int = 8, candidates: int = 8,
                    repeats: Sequence[int] = (0, 1, 3, 6), rescore_samples: int = 64,
                    progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """Replay ``planner``'s first plans for ``tasks`` under ``noise_seeds`` placement-noise seeds (module doc).

    Args:
        planner: a ``cem+wm`` or ``llm+wm`` planner (``bench.build_planner``); its config's seed
            and samples are the search's.
        tasks: feasible BlockStack tasks (``load_tasks``); infeasible ones are skipped.
        candidates: distinct plans kept from the verifier's scores, best first (0: only the choice).
        repeats: repeat allowances to report for the chosen plan.
        rescore_samples: S of the re-ranking rule.

    Returns:
        ``{"tasks": [...], "chosen": {"repeats<=r": goal rate}, "rules": {rule: mean goal rate of
        the candidate it picks}, "settings": {...}}``; goal rates are over tasks x noise seeds.
    """
    if planner.config.planner not in ("cem+wm", "llm+wm"):
        raise ValueError(f"plan robustness replays a cem+wm or llm+wm planner's plans, not {planner.config.planner!r}")
    if noise_seeds < 1 or candidates < 0 or rescore_samples < 1:
        raise ValueError("noise_seeds and rescore_samples must be >= 1 and candidates >= 0")
    if not repeats or min(repeats) < 0:
        raise ValueError(f"repeats must be non-empty and >= 0, got {list(repeats)}")
    seed, verifier = planner.config.seed, planner.verifier
    scored: list[tuple[list[dict], float, float]] = []
    rescorer = WorldModelVerifier(verifier.model, rescore_samples, verifier.num_steps, seed + 1)

    def seeds(task: PlanTask) -> list[int]:
        return [task.seed] + [NOISE_SEED_BASE + k for k in range(1, noise_seeds)]

    rows = []
    planner.verifier = _Recording(verifier, scored)
    try:
        for task in (progress or (lambda x: x))([t for t in tasks if t.feasible]):
            scored.clear()
            env, _, _ = make_env(task)
            try:
                verifier.start_episode(task.seed)
                rescorer.start_episode(task.seed)
                decision = planner.decide(env, np.random.default_rng([seed, task.seed]))
                chosen, p = decision.plan, decision.best_p
                best: dict[str, tuple[float, float, list[dict]]] = {}
                for plan, q, g in scored:
                    if plan and plan[0].get("skill") == "pick_place":
                        key = json.dumps(plan, sort_keys=True)
                        best[key] = max(best.get(key, (-1.0, -1.0, plan)), (q, g, plan), key=lambda r: r[:2])
                pool = sorted(best.values(), key=lambda r: (-r[0], -r[1]))[:candidates]
                acts = bool(chosen) and chosen[0].get("skill") == "pick_place"
                if candidates and acts and not any(plan == chosen for *_, plan in pool):
                    pool.append((p or 0.0, 0.0, chosen))
                again = rescorer.score(env, [plan for *_, plan in pool], env.unwrapped.goal) if pool else None
            finally:
                env.close()
            runs = [replay(task, chosen, s, max(repeats), wait=planner.config.wait,
                           aim=planner.config.aim) for s in seeds(task)] if acts \
                else [(False, 0)] * noise_seeds
            row = {"task_id": task.task_id, "chosen": {"plan": chosen, "p": p,
                                                        "runs": [{"goal": ok, "repeats": r} for ok, r in runs]},
                   "candidates": []}
            for c, (q, g, plan) in enumerate(pool):
                hits = [replay(task, plan, s, 0, wait=planner.config.wait, aim=planner.config.aim)[0]
                        for s in seeds(task)]
                row["candidates"].append({"plan": plan, "p": q, "progress": g, "p_rescored": float(again.p[c]),
                                          "progress_rescored": float(again.progress[c]),
                                          "goal_rate": float(np.mean(hits)), "chosen": plan == chosen})
            rows.append(row)
    finally:
        planner.verifier = verifier
    return {"tasks": rows, "chosen": _chosen_rates(rows, repeats), "rules": _rule_rates(rows),
            "settings": {"planner": planner.config.planner, "noise_seeds": noise_seeds, "candidates": candidates,
                         "repeats": list(repeats), "samples": verifier.num_samples, "rescore_samples": rescore_samples,
                         "futures_per_plan": verifier.futures, "seed": seed}}


class _Recording:
    """A verifier that also keeps every (plan, p, progress) it scores (the candidates)."""

    def __init__(self, inner, log: list) -> None:
        self.inner, self.log = inner, log

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def score(self, env, plans, goal, cappers=()):
        scores = self.inner.score(env, plans, goal, cappers)
        self.log.extend((list(plan), float(p), float(g)) for plan, p, g in zip(plans, scores.p, scores.progress,
                                                                               strict=True))
        return scores


def _chosen_rates(rows: list[dict], repeats: Sequence[int]) -> dict[str, float | None]:
    runs = [run for row in rows for run in row["chosen"]["runs"]]
    return {f"repeats<={r}": (float(np.mean([run["goal"] and run["repeats"] <= r for run in runs])) if runs else None)
            for r in sorted(set(repeats))}


def _rule_rates(rows: list[dict]) -> dict[str, float | None]:
    """Mean goal rate (no repeats) of the candidate each rule picks, over the tasks with candidates."""
    rules = {
        "search samples": lambda c: (c["p"], c["progress"]),
        "rescored samples": lambda c: (c["p_rescored"], c["progress_rescored"]),
        "sturdiest (oracle)": lambda c: c["goal_rate"],
    }
    have = [row["candidates"] for row in rows if row["candidates"]]
    out = {name: (float(np.mean([max(cands, key=rule)["goal_rate"] for cands in have])) if have else None)
           for name, rule in rules.items()}
    out["mean candidate"] = float(np.mean([np.mean([c["goal_rate"] for c in cands]) for cands in have])) if have \
        else None
    return out
