"""The ``puzzles-v0`` benchmark: a fixed task set, PHYRE's AUCCESS metric and a random-attempt agent.

Three families (``foretell/PuzzleLaunch-v0``, ``PuzzleTopple-v0``, ``PuzzleDrop-v0``), four
templates each: two **train** and two **held-out** (other geometry and object types, some in
property space B). Each template has a fixed list of task seeds (``envs.puzzles.tasks``), made by
``generate_task_set``: a seed is kept only if leaving the scene alone fails, a random search over
actions finds a solution (stored, and re-checked by ``tests/envs/puzzles/test_puzzles.py``), and random
actions solve it at most ``MAX_RANDOM_RATE`` of the time.

Regenerate the table (about 30 min of one core; the stored one was made template by template in parallel)::

    python -c "from foretell.envs.puzzles.benchmark import generate_task_set, format_task_table; \
        print(format_task_table(generate_task_set()))" > envs/puzzles/tasks.py
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .core import SPLITS, PuzzleFamily, PuzzleTask

MAX_ATTEMPTS = 100
MAX_RANDOM_RATE = 0.5
FAMILY_MODULES = {"launch": "LaunchFamily", "topple": "ToppleFamily", "drop": "DropFamily"}
ENV_IDS = {"launch": "foretell/PuzzleLaunch-v0", "topple": "foretell/PuzzleTopple-v0",
           "drop": "foretell/PuzzleDrop-v0"}


def family(name: str) -> PuzzleFamily:
    """The puzzle family ``"launch"``, ``"topple"`` or ``"drop"``."""
    if name not in FAMILY_MODULES:
        raise ValueError(f"unknown puzzle family {name!r}; expected one of {sorted(FAMILY_MODULES)}")
    module = importlib.import_module(f"{__package__}.{name}")
    return getattr(module, FAMILY_MODULES[name])()


def families() -> list[PuzzleFamily]:
    return [family(name) for name in FAMILY_MODULES]


def task_set(split: str, tasks_per_template: int | None = None) -> list[PuzzleTask]:
    """The benchmark's tasks of ``split`` ("train" or "heldout"), template by template.

    Args:
        tasks_per_template: the first N stored tasks of each template (all when None).
    """
    from .tasks import TASKS

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if tasks_per_template is not None and tasks_per_template < 1:
        raise ValueError(f"tasks_per_template must be >= 1, got {tasks_per_template}")
    tasks = []
    for fam in families():
        for template in fam.templates:
            if template.split == split:
                for entry in TASKS[template.name][:tasks_per_template]:
                    task = fam.make_task(template.name, entry["seed"])
                    task.extra["solution"] = list(entry["solution"])
                    tasks.append(task)
    return tasks


def auccess(first_success_attempt: list[int | None], max_attempts: int = MAX_ATTEMPTS) -> float:
    """PHYRE's AUCCESS: area under the success-vs-attempts curve with log-scaled weights.

    ``s_k`` is the fraction of tasks solved within k attempts; the score is
    ``sum_k w_k s_k / sum_k w_k`` over k = 1..max_attempts with ``w_k = log(k + 1) - log(k)``.

    Args:
        first_success_attempt: per task, the 1-based attempt that first solved it, or None.
    """
    if not first_success_attempt:
        raise ValueError("auccess needs at least one task")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    big = max_attempts + 1
    firsts = np.array([big if a is None else int(a) for a in first_success_attempt])
    if np.any(firsts < 1):
        raise ValueError(f"attempts are counted from 1, got {first_success_attempt}")
    k = np.arange(1, max_attempts + 1)
    weights = np.log(k + 1) - np.log(k)
    solved_within = (firsts[None, :] <= k[:, None]).mean(axis=1)  # (max_attempts,) s_k
    return float(np.sum(weights * solved_within) / np.sum(weights))


def task_rng(seed: int, task: PuzzleTask) -> np.random.Generator:
    """The random agent's generator for one task: independent of which other tasks are run."""
    return np.random.default_rng([int(seed), zlib.crc32(task.task_id.encode())])


def random_first_success(fam: PuzzleFamily, task: PuzzleTask, rng: np.random.Generator,
                         max_attempts: int = MAX_ATTEMPTS) -> int | None:
    """Try uniform random actions until one solves ``task``; the 1-based attempt, or None."""
    for attempt in range(1, max_attempts + 1):
        if fam.attempt(task, rng.uniform(-1.0, 1.0, fam.action_dim), stop_early=True).success:
            return attempt
    return None


def evaluate_random(split: str, attempts: int = MAX_ATTEMPTS, tasks_per_template: int | None = None, seed: int = 0,
                    progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """The random-attempt agent on the task set of ``split``: AUCCESS and first-attempt success,
    overall and per template."""
    return evaluate_agent(split, "random", random_first_success, attempts, tasks_per_template, seed, progress)


FirstSuccess = Callable[[PuzzleFamily, PuzzleTask, np.random.Generator, int], Any]
"""(family, task, rng, attempts) -> first solving attempt (1-based) or None, or (that, details dict)."""


def evaluate_agent(split: str, agent: str, first_success: FirstSuccess, attempts: int = MAX_ATTEMPTS,
                   tasks_per_template: int | None = None, seed: int = 0,
                   progress: Callable[[Iterable], Iterable] | None = None,
                   templates: Iterable[str] | None = None) -> dict:
    """Any attempting agent on the task set of ``split``, scored as the random agent is.

    ``first_success(family, task, rng, attempts)`` makes up to ``attempts`` attempts on ``task``
    (through ``family.attempt``) and returns the 1-based attempt that first solved it or None,
    optionally with a dict of per-task details (kept in the task's row); ``rng`` is the task's
    own generator (``task_rng``), so a task's result does not depend on which others run.
    ``templates``: only these templates of the split (None: all).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    tasks = task_set(split, tasks_per_template)
    if templates is not None:
        wanted, known = set(templates), {t.template for t in tasks}
        if not wanted <= known:
            raise ValueError(f"templates {sorted(wanted - known)} are not in split {split}; it has {sorted(known)}")
        tasks = [t for t in tasks if t.template in wanted]
    by_family = {f.name: f for f in families()}
    rows = []
    for task in progress(tasks) if progress else tasks:
        first = first_success(by_family[task.family], task, task_rng(seed, task), attempts)
        first, details = first if isinstance(first, tuple) else (first, {})
        if first is not None and not 1 <= first <= attempts:
            raise ValueError(f"agent {agent} reported attempt {first} on {task.task_id}; expected 1..{attempts} or None")
        rows.append({"task_id": task.task_id, "template": task.template, "family": task.family,
                     "first_success_attempt": first, **details})
    return {"benchmark": "puzzles-v0", "split": split, "agent": agent, "attempts": attempts, "seed": seed,
            "tasks_per_template": tasks_per_template, "templates": sorted(templates) if templates else None,
            "tasks": len(rows), **_scores(rows, attempts),
            "per_template": {t: {"family": next(r["family"] for r in rows if r["template"] == t),
                                 **_scores([r for r in rows if r["template"] == t], attempts)}
                             for t in dict.fromkeys(r["template"] for r in rows)},
            "results": rows}


def _scores(rows: list[dict], attempts: int) -> dict:
    firsts = [r["first_success_attempt"] for r in rows]
    return {"n": len(rows), "auccess": auccess(firsts, attempts),
            "first_attempt_success": float(np.mean([f == 1 for f in firsts])),
            "solved": float(np.mean([f is not None for f in firsts]))}


def verify_task(fam: PuzzleFamily, template: str, seed: int, probe: int = 60, search: int = 300,
                max_random_rate: float = MAX_RANDOM_RATE) -> dict | None:
    """Keep task ``(template, seed)`` if it is neither trivial nor unsolvable.

    Runs the idle scene (must fail), ``probe`` random actions (their solve rate must not exceed
    ``max_random_rate``) and, if none solved it, up to ``search`` more. Returns the table entry
    ``{"seed", "solution", "random_rate"}`` (the solution rounded to 4 decimals and re-checked
    with a full, unshortened rollout), or None.
    """
    task = fam.make_task(template, seed)
    if fam.idle(task).success:
        return None
    rng = np.random.default_rng([seed, 977])
    actions = rng.uniform(-1.0, 1.0, (probe + search, fam.action_dim))
    wins = [a for a in actions[:probe] if fam.attempt(task, a, stop_early=True).success]
    rate = len(wins) / probe
    if rate > max_random_rate:
        return None
    for action in [*wins, *actions[probe:]]:
        solution = np.round(action, 4)
        if fam.attempt(task, solution).success:
            return {"seed": int(seed), "solution": solution.tolist(), "random_rate": rate}
    return None


def generate_task_set(tasks_per_template: int = 6, families_: list[str] | None = None,
                      log: Callable[[str], None] | None = None) -> dict[str, list[dict]]:
    """Search seeds 0, 1, 2, ... of every template until ``tasks_per_template`` pass ``verify_task``."""
    table: dict[str, list[dict]] = {}
    for name in families_ or list(FAMILY_MODULES):
        fam = family(name)
        for template in fam.templates:
            table[template.name], seed = [], 0
            while len(table[template.name]) < tasks_per_template:
                entry = verify_task(fam, template.name, seed)
                if log:
                    log(f"{template.name} seed {seed}: {'kept' if entry else 'rejected'}")
                if entry:
                    table[template.name].append(entry)
                seed += 1
    return table


def format_task_table(table: dict[str, list[dict]]) -> str:
    """Python source of ``envs/puzzles/tasks.py`` for a table from ``generate_task_set``."""
    lines = ['"""The fixed puzzles-v0 task set: per template, task seeds with a verified solution and the',
             'random solve rate seen at generation (``envs.puzzles.benchmark.generate_task_set``; do not edit by hand)."""',
             "", "TASKS: dict[str, list[dict]] = {"]
    for template, entries in table.items():
        lines.append(f"    {template!r}: [")
        lines.extend(f"        {entry!r}," for entry in entries)
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines) + "\n"
