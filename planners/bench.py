"""Planning runs and the planning benchmark: what ``foretell plan`` and ``foretell bench plan`` do.

A run writes one JSON line per finished episode to ``OUT/episodes.jsonl`` (flushed and fsynced,
so a crash loses at most the episode in progress), the LLM's every prompt and response to
``OUT/llm.jsonl`` (replayable offline with ``--llm replay``; ``draft-verify``'s larger backend to
``OUT/llm-large.jsonl``), and ``OUT/summary.json`` atomically
at the end. ``--resume`` skips the episodes already in ``episodes.jsonl``.

``bench_plan`` runs several variants on the same tasks; with ``backend="ray"`` each variant's
episodes are spread over a Ray cluster in chunks (one LLM and world model load per chunk).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from foretell.runtime import atomic_write_json

from .loop import NEEDS_LLM, NEEDS_WORLD_MODEL, EpisodeResult, Planner, PlannerConfig, summarise
from .tasks import PlanTask, load_tasks

EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
LLM_RECORD = "llm.jsonl"
LARGE_LLM_RECORD = "llm-large.jsonl"


WorldModelRuns = str | Path | Sequence[str | Path] | None  # one skill world-model run, or an ensemble's


def build_planner(config: PlannerConfig, llm: dict | None, world_model: WorldModelRuns,
                  record: Path | None = None, large_llm: dict | None = None) -> Planner:
    """A planner with its LLM backend (``llm``: ``make_backend`` keyword arguments), world model
    (one run, or several: their ``worldmodel.ModelEnsemble``) and,
    for ``draft-verify``, its larger LLM backend (``large_llm``, recorded beside ``record`` as
    ``LARGE_LLM_RECORD``)."""
    backend = model = large = None
    if config.planner == "draft-verify" and large_llm is None:
        raise ValueError("planner 'draft-verify' needs --large-llm (the larger backend asked when no draft "
                         "verifies)")
    if config.planner in NEEDS_WORLD_MODEL:  # checked first: it fails fast, the LLM takes a while to load
        if not _runs(world_model):
            raise ValueError(f"planner {config.planner!r} needs --world-model RUN (a skill world model trained "
                             f"with `foretell train world` on BlockStack-v0 data)")
        from foretell.worldmodel import load_ensemble

        model = load_ensemble(_runs(world_model))
    if config.planner in NEEDS_LLM:
        from .backends import make_backend

        backend = make_backend(**{**(llm or {"kind": "local"}), **({"record": record} if record else {})})
        if config.planner == "draft-verify":
            large = make_backend(**{**large_llm, **({"record": record.with_name(LARGE_LLM_RECORD)} if record else {})})
    return Planner(config, backend, model, large)


def _runs(world_model: WorldModelRuns) -> list[str] | None:
    """The world-model run folders as strings (JSON- and Ray-friendly); None for none."""
    if world_model is None:
        return None
    runs = [world_model] if isinstance(world_model, (str, Path)) else list(world_model)
    return [str(r) for r in runs] or None


def _read_finished(path: Path) -> dict[str, dict]:
    """Episodes already finished in a run (a torn last line from a crash is ignored)."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row["task_id"]] = row
    return done


def _append(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def plan_run(tasks: list[PlanTask], config: PlannerConfig, llm: dict | None = None,
             world_model: WorldModelRuns = None, out: str | Path | None = None, resume: bool = False,
             progress: Callable | None = None, video: str | Path | None = None, large_llm: dict | None = None) -> dict:
    """Run ``tasks`` with one planner variant; returns the summary and every episode's record
    (``large_llm``: ``draft-verify``'s larger backend, ``make_backend`` keyword arguments)."""
    rows: dict[str, dict] = {}
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if (out / EPISODES_FILE).exists() and not resume:
            raise ValueError(f"{out} already holds a planning run; pass --resume to continue it or choose another --out")
        rows = _read_finished(out / EPISODES_FILE) if resume else {}
        config_file = out / "config.json"
        if resume and config_file.exists():
            started = json.loads(config_file.read_text())
            if started["planner"] != asdict(config):
                raise ValueError(f"--resume with other planner settings than the run in {out} was started with")
            if _runs(started.get("world_model")) != _runs(world_model):
                raise ValueError(f"--resume with other world models ({_runs(world_model)}) than the run in {out} "
                                 f"was started with ({_runs(started.get('world_model'))})")
        atomic_write_json(config_file, {"planner": asdict(config), "llm": _public(llm),
                                        "large_llm": _public(large_llm),
                                        "world_model": _runs(world_model)})
    todo = [t for t in tasks if t.task_id not in rows]
    planner = build_planner(config, llm, world_model, out / LLM_RECORD if out is not None else None,
                            large_llm) if todo else None
    for task in (progress(todo) if progress else todo):
        frames = [] if video is not None else None
        result = planner.run(task, frames)
        if video is not None:
            _write_video(Path(video) / f"{task.task_id.replace('/', '_')}.mp4", frames)
        rows[task.task_id] = result.to_dict()
        if out is not None:
            _append(out / EPISODES_FILE, rows[task.task_id])
    episodes = [rows[t.task_id] for t in tasks]
    summary = {"planner": config.planner, **summarise([_result(r) for r in episodes]),
               "llm": getattr(planner.llm, "name", None) if planner else None,
               "large_llm": getattr(planner.large_llm, "name", None) if planner else None, "per_episode": episodes}
    if out is not None:
        atomic_write_json(out / SUMMARY_FILE, summary)
    return summary


def _public(llm: dict | None) -> dict | None:
    """The LLM settings worth recording (never a key)."""
    return None if llm is None else {k: v for k, v in llm.items() if "key" not in k.lower()}


def _result(row: dict) -> EpisodeResult:
    return EpisodeResult(row["task_id"], row["planner"], row["success"], row["steps"], row["declared_infeasible"],
                         row["feasible"], [], row["actions"], row["llm"], row["verifier"], row["wall_s"],
                         row.get("large_llm", {}), row.get("waits", 0))


def _write_video(path: Path, frames: list) -> None:
    from foretell.envs.sim.render import write_video

    if frames:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(frames, path)


def _chunk_run(task_set: str, split: str, task_ids: list[str], config: dict, llm: dict | None,
               world_model: list[str] | None, large_llm: dict | None = None) -> list[dict]:
    """One Ray task: a chunk of episodes with one planner (loads its own LLMs and world model)."""
    tasks = {t.task_id: t for t in load_tasks(task_set, split)}
    planner = build_planner(PlannerConfig(**config), llm, world_model, large_llm=large_llm)
    return [planner.run(tasks[i]).to_dict() for i in task_ids]


def bench_plan(task_set: str, split: str, planners: list[str], episodes: int | None, llm: dict | None,
               world_model: WorldModelRuns, seed: int = 0, backend: str = "local", chunk: int = 5,
               progress: Callable | None = None, config: dict | None = None, stride: int = 1,
               large_llm: dict | None = None) -> dict:
    """Every variant in ``planners`` on the same tasks (every ``stride``-th of the split, at most
    ``episodes``); ``backend``: ``local`` or ``ray``; ``large_llm``: ``draft-verify``'s larger backend."""
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    tasks = load_tasks(task_set, split)[::stride][:episodes]
    configs = {p: PlannerConfig(planner=p, seed=seed, **(config or {})) for p in planners}  # validates each
    table = {}
    if backend == "local":
        for name, cfg in configs.items():
            table[name] = plan_run(tasks, cfg, llm, world_model, progress=progress,
                                   large_llm=large_llm if name == "draft-verify" else None)
    else:
        import ray

        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        remote = ray.remote(_chunk_run)
        ids = [t.task_id for t in tasks]
        futures = {name: [remote.remote(task_set, split, ids[i:i + chunk], asdict(cfg), llm,
                                        _runs(world_model),
                                        large_llm if name == "draft-verify" else None)
                          for i in range(0, len(ids), chunk)] for name, cfg in configs.items()}
        for name, parts in futures.items():
            rows = [row for part in ray.get(parts) for row in part]
            table[name] = {"planner": name, **summarise([_result(r) for r in rows]), "per_episode": rows}
    return {"task_set": task_set, "split": split, "seed": seed, "backend": backend, "stride": stride,
            "tasks": len(tasks), "task_ids": [t.task_id for t in tasks], "config": config or {}, "planners": table}


def _tokens(summary: dict) -> str:
    """Completion tokens; ``draft-verify``'s larger backend's beside the drafter's."""
    large = summary.get("large_llm_completion_tokens", 0)
    return f"{summary['llm_completion_tokens']}" + (f" + {large} large" if large else "")


def results_table(bench: dict) -> str:
    """The benchmark as a Markdown table (what ``foretell bench plan`` writes for docs/results.md)."""
    lines = ["| planner | success | feasible | infeasible (declared) | mean steps | LLM tokens (completion) "
             "| verifier calls | wall s |", "|---|---|---|---|---|---|---|---|"]
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    for name, s in bench["planners"].items():
        lines.append(f"| {name} | {pct(s['success_rate'])} | {pct(s['success_rate_feasible'])} | "
                     f"{pct(s['success_rate_infeasible'])} | {s['mean_steps']:.2f} | {_tokens(s)} | "
                     f"{s['verifier_calls']} | {s['wall_s']:.0f} |")
    return "\n".join(lines)
