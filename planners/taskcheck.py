"""Check a planning task set with the reference planners: are its tasks solvable, and do they need physics?

``expert``: the privileged, physics-aware ``BlockStackExpert`` (closed loop, re-plans after every
step); on stack-physics-v0 its success rate is the sanity check that the tasks are solvable.
``blind``: ``physics_blind_plan`` executed open loop; on stack-physics-v0 it must fail at least
half the tasks; on planbench-bw it is the optimal symbolic plan, so its rate says how often an
optimal Blocksworld plan also works physically.

    python -m foretell.planners.taskcheck --task-set stack-physics-v0 --split test --planner expert --json

Each row: success (goal predicates hold and the scene is still for 1 s, or the goal declared
infeasible when it is), goal_holds (PlanBench's score: the goal predicates hold at the end,
stability aside), steps, declared, wall seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

import numpy as np

from foretell.runtime import atomic_write_json

from ..envs.blockstack.expert import BlockStackExpert
from .tasks import SPLITS, TASK_SETS, PlanTask, load_tasks, make_env, physics_blind_plan, symbolic_state

PLANNERS = ("expert", "blind")
SETTLE_CHECK = (1.0, 5.0)  # window, timeout (s): the env's own success rule for stillness


def check_reset(task: PlanTask) -> dict:
    """Does the task's scene start as its ``meta["init_on"]`` says, and stand still?

    Compares what rests on what right after reset with ``meta["init_on"]`` (everything else on
    the table), then simulates until every object was still for 1 s (at most 5 s) and compares again.
    """
    start = time.perf_counter()
    env, _, _ = make_env(task, obs_keys=("state",))
    try:
        expected = {name: None for name in env.unwrapped.object_names}
        expected.update({upper: lower for upper, lower in task.meta["init_on"]})
        at_reset = symbolic_state(env)
        stable, _ = env.unwrapped.tabletop.settle(*SETTLE_CHECK)
        after = symbolic_state(env)
        return {"task_id": task.task_id, "facts_at_reset": at_reset == expected, "stable": bool(stable),
                "facts_after_settle": after == expected, "wall_seconds": round(time.perf_counter() - start, 2)}
    finally:
        env.close()


def run_task(task: PlanTask, planner: str) -> dict:
    """Run one task with ``planner`` (one of ``PLANNERS``) until it ends, the budget runs out, or
    (blind) the plan is exhausted."""
    if planner not in PLANNERS:
        raise ValueError(f"unknown planner {planner!r}; valid planners: {list(PLANNERS)}")
    start = time.perf_counter()
    env, _, info = make_env(task, obs_keys=("state",))
    try:
        if planner == "expert":
            expert = BlockStackExpert(env)
            actions = iter(expert.act, None)  # closed loop: asks for the next action each step
        else:
            plan = physics_blind_plan(task, env)
            actions = iter(json.loads(json.dumps(plan)))
        steps, done = 0, False
        for action in actions:
            _, _, terminated, truncated, info = env.step(action)
            steps += 1
            if terminated or truncated:
                done = True
                break
        declared = bool(info["skill"] and info["skill"]["name"] == "declare_infeasible")
        return {"task_id": task.task_id, "kind": task.meta["kind"], "balls": task.meta.get("balls", 0),
                "feasible": task.feasible, "success": bool(info["success"]),
                "goal_holds": bool(info["goal_satisfied"]) and task.feasible, "stable": bool(info["stable"]),
                "declared": declared, "steps": steps, "ended": done, "optimal": task.meta["optimal_length"],
                "max_steps": task.max_steps, "wall_seconds": round(time.perf_counter() - start, 2)}
    finally:
        env.close()


def summarise(rows: list[dict]) -> dict:
    """Success, goal-holds and step statistics, overall and per (kind, balls)."""
    def stats(group: list[dict]) -> dict:
        ok = [r for r in group if r["success"] and r["feasible"]]
        return {"tasks": len(group), "success_rate": float(np.mean([r["success"] for r in group])),
                "goal_rate": float(np.mean([r["goal_holds"] for r in group if r["feasible"]] or [np.nan])),
                "mean_steps_solved": float(np.mean([r["steps"] for r in ok])) if ok else None}
    groups = defaultdict(list)
    for r in rows:
        groups[f"{r['kind']}/{r['balls']}ball"].append(r)
    return {**stats(rows), "by_kind": {k: stats(v) for k, v in sorted(groups.items())},
            "failed": [r["task_id"] for r in rows if not r["success"]],
            "wall_seconds": round(sum(r["wall_seconds"] for r in rows), 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-set", required=True, choices=TASK_SETS)
    parser.add_argument("--split", default="test")
    parser.add_argument("--planner", choices=PLANNERS, help="run this planner on every task")
    parser.add_argument("--check-reset", action="store_true",
                        help="instead: check every task starts with its initial facts and stands still")
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only")
    parser.add_argument("--every", type=int, default=1, help="every k-th task only (a spread-out sample)")
    parser.add_argument("--json", action="store_true", help="print the summary and rows as JSON")
    parser.add_argument("--out", default=None, help="also write the JSON here (atomically)")
    args = parser.parse_args(argv)
    if args.split not in SPLITS[args.task_set]:
        parser.error(f"--split must be one of {list(SPLITS[args.task_set])} for {args.task_set}")
    if args.every < 1:
        parser.error(f"--every must be >= 1, got {args.every}")
    if (args.planner is None) == (not args.check_reset):
        parser.error("give exactly one of --planner and --check-reset")
    tasks = load_tasks(args.task_set, args.split, args.limit)[:: args.every]
    if args.check_reset:
        return _report(args, _check_resets(tasks))
    rows = []
    for task in tasks:
        rows.append(run_task(task, args.planner))
        if not args.json:
            r = rows[-1]
            print(f"{r['task_id']:32s} {'ok  ' if r['success'] else 'FAIL'} steps={r['steps']:2d} "
                  f"{r['wall_seconds']:6.1f}s", file=sys.stderr, flush=True)
    return _report(args, {"planner": args.planner, **summarise(rows), "rows": rows})


def _check_resets(tasks: list[PlanTask]) -> dict:
    rows = [check_reset(t) for t in tasks]
    keys = ("facts_at_reset", "stable", "facts_after_settle")
    return {"check": "reset", "tasks": len(rows), **{f"{k}_rate": float(np.mean([r[k] for r in rows])) for k in keys},
            "failed": [r["task_id"] for r in rows if not all(r[k] for k in keys)],
            "wall_seconds": round(sum(r["wall_seconds"] for r in rows), 1), "rows": rows}


def _report(args: argparse.Namespace, body: dict) -> dict:
    result = {"task_set": args.task_set, "split": args.split, "every": args.every, "limit": args.limit, **body}
    if args.out:
        atomic_write_json(args.out, result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    return result


if __name__ == "__main__":
    main()
