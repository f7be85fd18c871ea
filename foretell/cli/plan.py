"""``foretell plan`` and ``foretell bench plan``: planning episodes and the planning benchmark
(see docs/planners.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from ._common import AIM, WAIT, WORLD_MODELS, check_out, emit, json_option, pct, progress
from ._llm import LLM_OPTIONS, LLMKind, llm_spec

TaskSet = Literal["stack-physics-v0", "planbench-bw"]
PlanTaskSet = Literal["stack-physics-v0", "planbench-bw", "puzzles-v0"]
PUZZLE_AGENTS = {"random": "random", "cem+wm": "cem+wm", "llm+wm": "llm+cem"}
"""``foretell plan --task puzzles-v0``: planner -> puzzle agent (``llm+wm``: LLM proposals seed CEM on the
world model, docs/planners.md)."""
PlannerName = Literal["llm", "llm+wm", "llm+sim", "draft-verify", "cem+wm", "random", "blind", "expert"]

bench_app = typer.Typer(help="Benchmarks that compare planners (see docs/planners.md).", no_args_is_help=True)




_LARGE = {  # draft-verify's larger backend, in both commands
    "large_llm": typer.Option(None, "--large-llm", help="draft-verify: the larger LLM backend (local | openai | "
                                                        "transformers | replay), asked only when none of --llm's "
                                                        "drafts verifies on the world model."),
    "large_llm_model": typer.Option(None, "--large-llm-model", help="Model name (openai) or directory/.gguf "
                                                                    "(transformers) of --large-llm."),
    "large_llm_url": typer.Option(None, "--large-llm-url", help="Base URL of --large-llm's OpenAI-compatible "
                                                                "server [default: $OPENAI_BASE_URL]."),
    "large_llm_replay": typer.Option(None, "--large-llm-replay", dir_okay=False, exists=True,
                                     help="An llm-large.jsonl to replay (with --large-llm replay)."),
}


_DECIDE = {  # how each decision is made, in both commands
    "rounds": typer.Option(None, min=1, help="LLM proposal rounds per decision [default: 1; draft-verify: 2]."),
    "max_decisions": typer.Option(6, "--max-decisions", min=1, help="Decisions per episode (LLM and search "
                                                                     "variants)."),
    "search": typer.Option(True, "--search/--no-search", help="llm+wm, llm+sim: when no LLM plan is verified, "
                                                              "search on the verifier seeded by the LLM's plans."),
    "arrange": typer.Option(True, "--arrange/--no-arrange", help="Verifying variants: probe which goal arrangements "
                                                                  "can stand; seed the search with moves to them; "
                                                                  "declare infeasible only when none can."),
    "sampling_steps": typer.Option(4, "--sampling-steps", min=1, help="World-model variants: diffusion sampling "
                                                                      "steps per imagined skill."),
    "retries": typer.Option(3, min=0, help="Times a placement that did not stay may be tried again (while its "
                                           "target rests where it did) before it is refused."),
    "wait": WAIT,
    "aim": AIM,
}


def plan(
    task: PlanTaskSet = typer.Option("stack-physics-v0", help="Task set (puzzles-v0: planners random, cem+wm, "
                                                               "llm+wm; scored by AUCCESS)."),
    split: str = typer.Option("test", help="Task split (see docs/planning-tasks.md; puzzles-v0: test means "
                                           "heldout)."),
    planner: PlannerName = typer.Option("llm+wm", help="Planner variant."),
    llm: LLMKind = LLM_OPTIONS["llm"],
    llm_model: str = LLM_OPTIONS["llm_model"],
    llm_url: str = LLM_OPTIONS["llm_url"],
    llm_replay: Path = LLM_OPTIONS["llm_replay"],
    large_llm: LLMKind = _LARGE["large_llm"],
    large_llm_model: str = _LARGE["large_llm_model"],
    large_llm_url: str = _LARGE["large_llm_url"],
    large_llm_replay: Path = _LARGE["large_llm_replay"],
    world_model: list[Path] = WORLD_MODELS,
    episodes: int = typer.Option(20, min=1, help="Tasks to run (the first N of the split; puzzles-v0: the first "
                                                 "ceil(N / templates) of each template)."),
    stride: int = typer.Option(1, min=1, help="Take every k-th task of the split (a spread of task kinds; the "
                                              "first 20 stack-physics-v0 test tasks are all one-ball towers)."),
    seed: int = typer.Option(0, min=0, help="Seeds the LLM's sampling, the world model's noise and search."),
    candidates: int = typer.Option(6, min=1, help="Plans the LLM proposes per round (K)."),
    samples: int = typer.Option(8, min=1, help="World-model samples per plan (S)."),
    rounds: int | None = _DECIDE["rounds"],
    max_decisions: int = _DECIDE["max_decisions"],
    search: bool = _DECIDE["search"],
    arrange: bool = _DECIDE["arrange"],
    sampling_steps: int = _DECIDE["sampling_steps"],
    retries: int = _DECIDE["retries"],
    wait: float = _DECIDE["wait"],
    aim: bool = _DECIDE["aim"],
    out: Path = typer.Option(None, "--out", file_okay=False,
                             help="Run folder: episodes.jsonl, llm.jsonl (replayable), summary.json."),
    resume: bool = typer.Option(False, "--resume", help="Skip the episodes already finished in --out."),
    video: Path = typer.Option(None, "--video", file_okay=False, help="Write one video per episode here."),
    as_json: bool = json_option(),
) -> None:
    """Run planning episodes: the LLM proposes, the world model imagines, the best plan acts in MuJoCo."""
    from foretell.planners.bench import plan_run
    from foretell.planners.loop import PlannerConfig
    from foretell.planners.tasks import load_tasks

    check_out(None if out is None else out / "summary.json")
    if (large_llm is not None) != (planner == "draft-verify"):
        raise ValueError("--large-llm goes with --planner draft-verify (the larger backend asked when no draft "
                         "verifies), and draft-verify needs it")
    if task == "puzzles-v0":
        if stride != 1:
            raise ValueError("--stride applies to stack-physics-v0 and planbench-bw; puzzles-v0 takes the first "
                             "tasks of each template")
        if len(world_model or []) > 1:
            raise ValueError("puzzles-v0 takes one --world-model (a puzzle world model); ensembles plan on "
                             "stack-physics-v0 and planbench-bw")
        _plan_puzzles(split, planner, llm_spec(llm, llm_model, llm_url, llm_replay), (world_model or [None])[0],
                      episodes, seed, out, resume, video, as_json)
        return
    config = PlannerConfig(planner=planner, seed=seed, candidates=candidates, samples=samples, rounds=rounds,
                           max_decisions=max_decisions, search=search, arrange=arrange,
                           sampling_steps=sampling_steps, retries=retries, wait=wait, aim=aim)
    tasks = load_tasks(task, split, limit=episodes * stride)[::stride]
    spec = llm_spec(llm, llm_model, llm_url, llm_replay)
    large = llm_spec(large_llm, large_llm_model, large_llm_url, large_llm_replay, "--large-llm")
    summary = plan_run(tasks, config, spec, world_model, out, resume, progress(f"plan {planner}"), video, large)
    emit(summary, as_json, [
        f"{task} ({split}), planner {planner}: success {pct(summary['success_rate'])} of {summary['episodes']} "
        f"episodes ({pct(summary['success_rate_feasible'])} feasible, "
        f"{pct(summary['success_rate_infeasible'])} infeasible declared)",
        f"mean steps {summary['mean_steps']:.2f}; LLM tokens {summary['llm_prompt_tokens']} prompt + "
        f"{summary['llm_completion_tokens']} completion"
        + (f" (large LLM: {summary['large_llm_prompt_tokens']} + {summary['large_llm_completion_tokens']})"
           if large else "") + f"; verifier calls {summary['verifier_calls']}; wall {summary['wall_s']:.0f} s",
    ])


def _plan_puzzles(split: str, planner: str, llm: dict, world_model: Path | None, episodes: int, seed: int,
                  out: Path | None, resume: bool, video: Path | None, as_json: bool) -> None:
    """``foretell plan --task puzzles-v0``: the puzzle agents through the benchmark's own harness, with
    the default search settings (``foretell eval puzzles`` sets them)."""
    import math

    from foretell.envs.puzzles.benchmark import task_set
    from foretell.planners.puzzles import PuzzleSolverConfig, puzzle_agent_inputs, run_puzzle_agent
    from foretell.runtime import atomic_write_json

    from .eval import puzzle_lines

    if planner not in PUZZLE_AGENTS:
        raise ValueError(f"puzzles-v0 runs the planners {', '.join(PUZZLE_AGENTS)} (llm+wm: LLM proposals seed a CEM "
                         f"search on the world model), not {planner!r}")
    if resume or video is not None:
        raise ValueError("--resume and --video apply to stack-physics-v0 and planbench-bw; a puzzles-v0 run is one "
                         "call of the benchmark harness")
    split = {"test": "heldout"}.get(split, split)
    templates = {t.template for t in task_set(split)}
    agent = PUZZLE_AGENTS[planner]
    model, backend = puzzle_agent_inputs(agent, world_model, llm, None if out is None else out / "llm.jsonl")
    result = run_puzzle_agent(split, agent, model, PuzzleSolverConfig(),
                              tasks_per_template=math.ceil(episodes / len(templates)), seed=seed, llm=backend,
                              progress=progress(f"plan {planner} puzzles-v0"))
    result["success_rate"] = result["first_attempt_success"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "summary.json", result)
    emit(result, as_json, puzzle_lines(result, split, agent, result.get("attempts", 100), seed))


@bench_app.command("plan")
def bench_plan_cmd(
    task: TaskSet = typer.Option("stack-physics-v0", help="Task set."),
    split: str = typer.Option("test", help="Task split."),
    planners: str = typer.Option("llm,llm+wm,llm+sim,cem+wm,random,blind",
                                 help="Comma-separated variants to compare on the same tasks."),
    llm: LLMKind = LLM_OPTIONS["llm"],
    llm_model: str = LLM_OPTIONS["llm_model"],
    llm_url: str = LLM_OPTIONS["llm_url"],
    llm_replay: Path = LLM_OPTIONS["llm_replay"],
    large_llm: LLMKind = _LARGE["large_llm"],
    large_llm_model: str = _LARGE["large_llm_model"],
    large_llm_url: str = _LARGE["large_llm_url"],
    large_llm_replay: Path = _LARGE["large_llm_replay"],
    world_model: list[Path] = WORLD_MODELS,
    episodes: int = typer.Option(None, min=1, help="Tasks per variant [default: the whole split]."),
    stride: int = typer.Option(1, min=1, help="Take every k-th task of the split (a spread of task kinds)."),
    seed: int = typer.Option(0, min=0, help="Seed of every variant."),
    backend: Literal["local", "ray"] = typer.Option("local", help="local (one process) | ray (episodes spread "
                                                                  "over a Ray cluster)."),
    rounds: int | None = _DECIDE["rounds"],
    max_decisions: int = _DECIDE["max_decisions"],
    search: bool = _DECIDE["search"],
    arrange: bool = _DECIDE["arrange"],
    sampling_steps: int = _DECIDE["sampling_steps"],
    retries: int = _DECIDE["retries"],
    wait: float = _DECIDE["wait"],
    aim: bool = _DECIDE["aim"],
    table: Path = typer.Option(None, "--table", dir_okay=False, help="Also write the Markdown table here."),
    out: Path = typer.Option(None, "--out", dir_okay=False, help="Write the whole result as JSON here."),
    as_json: bool = json_option(),
) -> None:
    """Every planner variant on the same fixed tasks: success, steps, LLM tokens, world-model calls, time."""
    from foretell.planners.bench import bench_plan, results_table
    from foretell.planners.loop import PLANNERS
    from foretell.runtime import atomic_write_bytes, atomic_write_json

    names = [p.strip() for p in planners.split(",") if p.strip()]
    unknown = [p for p in names if p not in PLANNERS]
    if unknown or not names:
        raise ValueError(f"unknown planner(s) {unknown}; valid: {', '.join(PLANNERS)}")
    check_out(out)
    check_out(table)
    spec = llm_spec(llm, llm_model, llm_url, llm_replay)
    large = llm_spec(large_llm, large_llm_model, large_llm_url, large_llm_replay, "--large-llm")
    decide = {"rounds": rounds, "max_decisions": max_decisions, "search": search, "arrange": arrange,
              "sampling_steps": sampling_steps, "retries": retries, "wait": wait, "aim": aim}
    result = bench_plan(task, split, names, episodes, spec, world_model, seed, backend, stride=stride,
                        progress=progress("bench plan"), config=decide, large_llm=large)
    text = results_table(result)
    if out is not None:
        atomic_write_json(out, result)
    if table is not None:
        atomic_write_bytes(table, (text + "\n").encode())
    emit(result, as_json, [f"{task} ({split}), {result['tasks']} tasks, seed {seed}", text])
