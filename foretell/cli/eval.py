"""``foretell eval``: quality evaluations (their numbers belong in docs/results.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from ._common import AIM, WAIT, WORLD_MODELS, Space, check_out, emit, evaluate, json_option, pct
from ._llm import LLM_OPTIONS, LLMKind, llm_spec

app = typer.Typer(help="Quality evaluations (results belong in docs/results.md).", no_args_is_help=True)

OUT_HELP = "Also write the JSON result here (atomically)."


@app.command("expert")
def eval_expert(
    env: str = typer.Option("foretell/BlockStack-v0", help="A BlockStack env id."),
    episodes: int = typer.Option(200, min=1, help="Number of episodes (seeds seed..seed+N-1)."),
    space: Space = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, min=0, help="First seed."),
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """Measure the privileged expert's success on feasible goals and its infeasibility calls."""
    from foretell.envs import check_env
    from foretell.envs.measure.episodes import evaluate_expert

    check_env(env, "blockstack")
    check_out(out)
    result = evaluate(lambda progress: evaluate_expert(env, episodes, space, seed, progress=progress),
                      f"expert {space}", out)
    emit(result, as_json, [
        f"{env} space {space}, {episodes} episodes (seeds {seed}..{seed + episodes - 1})",
        f"feasible goals solved: {pct(result['feasible_success_rate'])} of {result['feasible_episodes']}",
        f"  needing physical reasoning: {pct(result['needs_physics_success_rate'])} of "
        f"{result['needs_physics_episodes']}",
        f"infeasible goals declared: {pct(result['infeasible_declared_rate'])} of {result['infeasible_episodes']}",
        f"overall success: {pct(result['success_rate'])}; mean steps (feasible) "
        f"{result['mean_steps_feasible']:.2f}; {result['mean_wall_seconds']:.2f} s/episode",
    ])


@app.command("scenario")
def eval_scenario(
    env: str = typer.Option("foretell/Collide-v0", help="A passive scenario env id."),
    episodes: int = typer.Option(100, min=1, help="Number of episodes (seeds seed..seed+N-1)."),
    space: Space = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, min=0, help="First seed."),
    but_for: bool = typer.Option(True, "--but-for/--no-but-for", help="Also re-simulate for total-effect graphs."),
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """Contact-label balance and direct vs total-effect causal-graph agreement of a scenario."""
    from foretell.envs import check_env
    from foretell.envs.measure.episodes import evaluate_scenario

    check_env(env, "scenario")
    check_out(out)
    result = evaluate(lambda progress: evaluate_scenario(env, episodes, space, seed, but_for=but_for,
                                                         progress=progress), f"{env} {space}", out)
    agreement = result["closure_agreement_rate"]
    emit(result, as_json, [
        f"{env} space {space}, {episodes} episodes (seeds {seed}..{seed + episodes - 1})",
        f"object-contact label rate: {100 * result['contact_rate']:.1f}% (target 40-60%)",
        f"mean direct-graph edges: {result['mean_direct_edges']:.2f}; mean contact events "
        f"{result['mean_contact_events']:.2f}; episodes with a topple {100 * result['topple_rate']:.1f}%, "
        f"with a break {100 * result['break_rate']:.1f}%",
        "direct closure == total effect: " + ("not measured" if agreement is None else
                                               f"{100 * agreement:.1f}% of episodes (target >= 95%)"),
        *([] if agreement is None else [
            f"  same, prevention effects set aside: {100 * result['agreement_rate_except_prevention']:.1f}% "
            f"({result['prevention_episodes']} episodes hold a prevention effect)",
            "  same, pairs within 2x of the 3 mm trajectory tolerance also set aside: "
            f"{100 * result['agreement_rate_except_prevention_and_boundary']:.1f}%",
            f"clean episodes (a placebo re-simulation stays within 3 mm): {100 * result['clean_fraction']:.1f}%; "
            "agreement on them: " + pct(result["clean_agreement_rate"]) + ", prevention set aside: "
            + pct(result["clean_agreement_rate_except_prevention"])]),
    ])


@app.command("first-frame")
def eval_first_frame(
    env_id: str = typer.Option("foretell/Collide-v0", "--env", help="A passive scenario env id."),
    episodes: int = typer.Option(300, min=10, help="Number of episodes (seeds seed..seed+N-1)."),
    space: Space = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, min=0, help="First seed."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds."),
    out: Path | None = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """How well the first frame alone predicts the contact label (a still-image baseline)."""
    from foretell.envs import check_env
    from foretell.envs.measure.first_frame import first_frame_baseline

    check_env(env_id, "scenario")
    if folds > episodes:
        raise ValueError(f"--folds {folds} is more than --episodes {episodes}")
    check_out(out)
    result = evaluate(lambda progress: first_frame_baseline(env_id, episodes, space, seed, folds, progress),
                      f"{env_id} first frames", out)
    emit(result, as_json, [
        f"{env_id} space {space}: {result['episodes']} episodes, contact rate {pct(result['contact_rate'])}",
        f"majority guess: {pct(result['majority_accuracy'])}",
        f"logistic regression on the first frame: accuracy {pct(result['logistic_accuracy'])}, "
        f"AUROC {result['logistic_auroc']:.3f}",
        f"MLP on the first frame: accuracy {pct(result['mlp_accuracy'])}, AUROC {result['mlp_auroc']:.3f}"])


@app.command("variables")
def eval_variables(
    env: str = typer.Option("foretell/GlassBreak-v0", help="A passive scenario env id."),
    seeds: int = typer.Option(60, min=1, help="Number of episodes (seeds seed..seed+N-1)."),
    space: Space = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, min=0, help="First seed."),
    cause: list[str] = typer.Option(None, "--cause", help="Only this cause variable (repeatable; default all)."),
    out: Path = typer.Option(None, help="Also write the graph here as node-link JSON (atomically)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (the node-link graph)."),
) -> None:
    """Variable-level causal graph of a scenario family, from paired do(low)/do(high) rollouts."""
    from foretell.envs import check_env
    from foretell.envs.measure.variable_graph import graph_to_json, variable_graph

    check_env(env, "scenario")
    check_out(out)
    result = evaluate(lambda progress: graph_to_json(variable_graph(
        env, range(seed, seed + seeds), space, causes=cause or None, progress=progress)), f"{env} {space}", out)
    meta = result["graph"]
    emit(result, as_json, [
        f"{env} space {space}, {seeds} seeds ({seed}..{seed + seeds - 1}): {meta['bonferroni_tests']} "
        f"cause-outcome pairs, sign test at alpha {meta['alpha']} / {meta['bonferroni_tests']} = "
        f"{meta['alpha_corrected']:.1e}, |weight| >= {meta['min_effect']}",
        f"edges ({len(result['edges'])}):" if result["edges"] else "no edges",
        *(f"  {e['source']} -> {e['target']}: effect {'+' if e['effect'] > 0 else '-'}, weight "
          f"{e['weight']:.2f}, p {e['p_value']:.1e}, changed in {e['n_changed']}/{e['n']} seeds"
          for e in sorted(result["edges"], key=lambda e: e["p_value"])),
    ])


@app.command("puzzles")
def eval_puzzles(
    split: Literal["train", "heldout"] = typer.Option("train", help="Task split: train or heldout."),
    agent: Literal["random", "random+local", "cem+wm", "llm+cem"] = typer.Option(
        "random", help="Agent: random (uniform actions until the first success); random+local (every "
        "--local-every-th attempt near the best real attempt so far, no model); cem+wm (CEM on a world model); "
        "llm+cem (LLM proposals seed the CEM); see docs/planners.md."),
    attempts: int = typer.Option(100, min=1, help="Attempts per task (PHYRE uses 100)."),
    tasks_per_template: int = typer.Option(None, min=1, help="First N stored tasks of each template (default all)."),
    template: list[str] = typer.Option(None, "--template", help="Only these templates of the split (repeatable)."),
    seed: int = typer.Option(0, min=0, help="Seed of the agent's random generator."),
    world_model: Path = typer.Option(None, "--world-model", exists=True, file_okay=False,
                                     help="cem+wm, llm+cem: a passive object world model trained on puzzle attempts."),
    population: int = typer.Option(48, min=1, help="cem+wm, llm+cem: candidates imagined per CEM iteration."),
    iterations: int = typer.Option(3, min=1, help="cem+wm, llm+cem: CEM iterations before the first attempt."),
    samples: int = typer.Option(2, min=1, help="cem+wm, llm+cem: imagined futures per candidate."),
    frames: int = typer.Option(100, min=1, help="cem+wm, llm+cem: imagined 40 ms frames per attempt."),
    refits: int = typer.Option(5, min=0, help="cem+wm, llm+cem: failed attempts that refit the search."),
    score: Literal["p", "shortfall"] = typer.Option(
        "shortfall", help="cem+wm, llm+cem: rank candidates by shortfall (how far the imagined futures end from "
        "the goal, m) or p (the share that succeed)."),
    local_every: int = typer.Option(None, min=0, help="Every k-th attempt (after the model's refits) is drawn "
                                    "around the best real attempt so far; 0: off [default: 2 for random+local, "
                                    "0 for the model agents]."),
    local_population: int = typer.Option(16, min=1, help="Candidates drawn per local attempt, the model's best "
                                         "attempted (1: unranked)."),
    local_std: float = typer.Option(0.25, min=0.001, max=2.0, help="Std of the draw around the best real attempt "
                                    "(normalised action units)."),
    llm: str = typer.Option("local", help="llm+cem: LLM backend (local | openai | transformers | replay)."),
    llm_record: Path = typer.Option(None, "--llm-record", help="llm+cem: append every LLM call to this JSON-lines file."),
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """The puzzles-v0 benchmark: AUCCESS (PHYRE) and first-attempt success on a fixed task set."""
    from foretell.planners.puzzles import (
        RANDOM_LOCAL_EVERY,
        PuzzleSolverConfig,
        puzzle_agent_inputs,
        run_puzzle_agent,
    )

    check_out(out)
    if local_every is None:
        local_every = RANDOM_LOCAL_EVERY if agent == "random+local" else 0
    model, backend = puzzle_agent_inputs(agent, world_model, {"kind": llm}, llm_record)
    config = PuzzleSolverConfig(population=population, elites=min(8, population), iterations=iterations,
                                samples=samples, frames=frames, refits=refits, score=score,
                                local_every=local_every, local_population=local_population, local_std=local_std)

    def run(progress):
        return run_puzzle_agent(split, agent, model, config, attempts, tasks_per_template, seed, backend,
                                templates=template or None, progress=progress)
    result = evaluate(run, f"puzzles {split}", out)
    emit(result, as_json, puzzle_lines(result, split, agent, attempts, seed))


@app.command("puzzle-ranking")
def eval_puzzle_ranking(
    world_model: Path = typer.Option(..., "--world-model", exists=True, file_okay=False,
                                     help="A passive object world model trained on puzzle attempts."),
    split: Literal["train", "heldout"] = typer.Option("train", help="Task split: train (validation) or heldout."),
    candidates: int = typer.Option(160, min=2, help="Uniform actions per task, each attempted in the simulator."),
    tasks_per_template: int = typer.Option(None, min=1, help="First N stored tasks of each template (default all)."),
    template: list[str] = typer.Option(None, "--template", help="Only these templates of the split (repeatable)."),
    samples: int = typer.Option(4, min=1, help="Imagined futures per candidate."),
    score: Literal["p", "shortfall"] = typer.Option("shortfall", help="What ranks the candidates (as eval puzzles)."),
    seed: int = typer.Option(0, min=0, help="Seed of the candidates and the sampler."),
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """How well a puzzle world model ranks uniform actions (AUROC against the simulator), apart from the search."""
    from foretell.planners.puzzles import PuzzleSolverConfig, puzzle_agent_inputs, ranking_quality

    check_out(out)
    model, _ = puzzle_agent_inputs("cem+wm", world_model)
    config = PuzzleSolverConfig(samples=samples, score=score, population=min(64, candidates),
                                elites=min(8, candidates))

    def run(progress):
        return ranking_quality(split, model, config, candidates, tasks_per_template, seed, template or None, progress)
    result = evaluate(run, f"puzzle ranking {split}", out)
    emit(result, as_json, [
        f"puzzles-v0 {split}: {result['n']} tasks, {candidates} uniform actions each, score {score}, {samples} samples",
        f"mean AUROC {result['auroc']:.3f} over {result['tasks_with_auroc']} tasks with both outcomes; success rate "
        f"{result['success_rate']:.3f}, mean imagined p {result['imagined_p']:.3f}",
        *(f"  {name:20s} AUROC {row['auroc']:.3f} ({row['tasks_with_auroc']}/{row['n']} tasks)  success "
          f"{row['success_rate']:.3f}  imagined p {row['imagined_p']:.3f}" for name, row in result["per_template"].items()),
    ])


def puzzle_lines(result: dict, split: str, agent: str, attempts: int, seed: int) -> list[str]:
    """The human-readable summary of a puzzles-v0 run (``eval puzzles``, ``plan --task puzzles-v0``)."""
    return [
        f"puzzles-v0 {split}, agent {agent}, {result['tasks']} tasks, {attempts} attempts, seed {seed}",
        f"AUCCESS {result['auccess']:.3f}; first-attempt success {100 * result['first_attempt_success']:.1f}%; "
        f"solved within {attempts}: {100 * result['solved']:.1f}%",
        *(f"  {name:20s} AUCCESS {row['auccess']:.3f}  first {100 * row['first_attempt_success']:5.1f}%  "
          f"solved {100 * row['solved']:5.1f}%  ({row['n']} tasks)" for name, row in result["per_template"].items()),
    ]


@app.command("predict")
def eval_predict(
    model: Path = typer.Option(..., "--model", help="Object world-model run (foretell train world)."),
    data: list[Path] = typer.Option(..., "--data", help="Test dataset of one scenario family and space; repeat."),
    train: list[Path] = typer.Option(None, "--train", help="Space-A training dataset per family for the majority "
                                                           "and classifier baselines [default: the model's own]."),
    regressor: Path = typer.Option(None, "--regressor", help="A --kind regressor run: one more column."),
    calibrate: list[Path] = typer.Option(None, "--calibrate", help="Validation dataset (space A, a seed unlike "
                                         "the training data's) to fit a Platt map of p(contact) per family on; "
                                         "repeat. Adds a 'calibrated' column."),
    samples: int = typer.Option(16, "--samples", min=1, help="Sampled futures per episode."),
    steps: int = typer.Option(4, "--steps", min=1, help="Sampler steps per horizon chunk."),
    seed: int = typer.Option(0, min=0, help="Seed of the prefix rule and the samplers."),
    properties: Literal["visible", "all", "none"] = typer.Option(
        "visible", help="What the models are told: visible (shape, size; mass, friction, restitution at the "
                        "training mean) | all (true values) | none."),
    simulator: bool = typer.Option(True, "--simulator/--no-simulator", help="Also run the simulator ceiling."),
    batch_size: int = typer.Option(32, min=1, help="Episodes per model call (each with its samples)."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | cuda:N."),
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """predict-ocp-v0: p(contact(agent, patient)) from an observed prefix, the world model against baselines."""
    from foretell.runtime import resolve_device
    from foretell.worldmodel.ocp_model import evaluate_predict, markdown

    check_out(out)
    result = evaluate(lambda progress: evaluate_predict(
        model, data, train or None, regressor, samples, steps, seed, properties, simulator,
        batch_size=batch_size, device=resolve_device(device), progress=progress, calibration_dirs=calibrate or ()),
        "predict-ocp-v0", out)
    emit(result, as_json, [
        f"predict-ocp-v0, {result['n']} episodes, {samples} samples, properties {properties}, seed {seed}",
        f"world model: accuracy {pct(result['accuracy'])}, AUROC "
        f"{'n/a (one class)' if result['auroc'] is None else format(result['auroc'], '.3f')}, "
        f"ECE {result['ece']:.3f}, Brier {result['brier']:.3f}, final-position error {result['position_error']:.3f} m",
        *markdown(result).splitlines()])


@app.command("plans")
def eval_plans(
    world_model: list[Path] = WORLD_MODELS,
    planner: Literal["cem+wm", "llm+wm"] = typer.Option("cem+wm", help="Whose first plans to replay."),
    llm: LLMKind = LLM_OPTIONS["llm"],
    llm_model: str = LLM_OPTIONS["llm_model"],
    llm_url: str = LLM_OPTIONS["llm_url"],
    llm_replay: Path = LLM_OPTIONS["llm_replay"],
    task: str = typer.Option("stack-physics-v0", help="BlockStack task set."),
    split: str = typer.Option("val", help="Task split (tune on val)."),
    episodes: int = typer.Option(None, min=1, help="The first N feasible tasks [default: all]."),
    min_balls: int = typer.Option(0, "--min-balls", min=0, help="Only tasks whose scene holds this many balls."),
    noise_seeds: int = typer.Option(8, "--noise-seeds", min=1, help="Placement-noise seeds per plan."),
    candidates: int = typer.Option(8, min=0, help="The verifier's best distinct plans to replay too (0: the choice)."),
    repeats: str = typer.Option("0,1,3,6", help="Repeat allowances to report for the chosen plan (comma list)."),
    samples: int = typer.Option(8, min=1, help="World-model samples per plan (S), as foretell plan."),
    rescore_samples: int = typer.Option(64, "--rescore-samples", min=1, help="S of the re-ranking rule."),
    seed: int = typer.Option(0, min=0, help="The planner's seed, as foretell plan --seed."),
    wait: float = WAIT,
    aim: bool = AIM,
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """How sturdy the planner's first plans are under placement noise, replayed in the simulator (docs/planners.md)."""
    from foretell.planners.bench import build_planner
    from foretell.planners.loop import PlannerConfig
    from foretell.planners.robustness import plan_robustness
    from foretell.planners.tasks import load_tasks

    check_out(out)
    if not world_model:
        raise ValueError("--world-model RUN is required (a skill world model trained on BlockStack-v0 data)")
    try:
        allowances = [int(r) for r in repeats.split(",") if r.strip()]
    except ValueError:
        raise ValueError(f"--repeats must be a comma list of integers, got {repeats!r}") from None
    tasks = [t for t in load_tasks(task, split) if t.feasible and t.meta.get("balls", 0) >= min_balls][:episodes]
    if not tasks:
        raise ValueError(f"no feasible {task} {split} task has at least {min_balls} ball(s)")
    spec = llm_spec(llm, llm_model, llm_url, llm_replay) if planner == "llm+wm" else None
    config = PlannerConfig(planner=planner, seed=seed, samples=samples, wait=wait, aim=aim)
    agent = build_planner(config, spec, world_model)
    result = evaluate(lambda progress: plan_robustness(agent, tasks, noise_seeds, candidates, allowances,
                                                       rescore_samples, progress), "plans", out)
    lines = [f"{task} {split}, {planner}: {len(tasks)} feasible tasks x {noise_seeds} placement-noise seeds"]
    lines += [f"  first plan, {k.replace('<=', ' <= ')}: goal {pct(v)}" for k, v in result["chosen"].items()]
    lines += [f"  candidate picked by {k}: goal {pct(v)}" for k, v in result["rules"].items()]
    emit(result, as_json, lines)


@app.command("skills")
def eval_skills(
    model: list[Path] = typer.Option(..., "--model", help="Skill world-model run (foretell train world on "
                                                          "BlockStack-v0); repeat it for an ensemble (each run "
                                                          "samples --samples outcomes, pooled)."),
    data: list[Path] = typer.Option(..., "--data", help="BlockStack-v0 dataset of noisy-expert skills; repeat."),
    samples: int = typer.Option(16, "--samples", min=1, help="Sampled outcomes per skill step (per model)."),
    steps: int = typer.Option(4, "--steps", min=1, help="Diffusion sampler steps."),
    seed: int = typer.Option(0, min=0, help="Seed of the model's noise."),
    tolerance: float = typer.Option(None, min=0.0, max=0.1, help="Touching gap (m) of the support read-out on "
                                    "predicted states [default: 0.02, chosen on space-A validation]."),
    simulator: bool = typer.Option(False, "--simulator/--no-simulator",
                                   help="Also the simulator re-run from the recorded state (ceiling)."),
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """Skill outcomes: p(the skill leaves a still scene with the goal's predicates true), against baselines."""
    from foretell.worldmodel import load_ensemble
    from foretell.worldmodel.skills import SKILL_TOLERANCE, evaluate_skill_outcomes

    check_out(out)
    tolerance = SKILL_TOLERANCE if tolerance is None else tolerance
    world_model = load_ensemble(model)
    result = evaluate(lambda progress: evaluate_skill_outcomes(world_model, data, samples, seed, steps, simulator,
                                                               tolerance), "skill outcomes", out)
    lines = [f"skill outcomes, {samples} samples x {len(model)} model(s), {steps} sampler steps, tolerance "
             f"{tolerance} m, seed {seed}"]
    for path, r in result["datasets"].items():
        lines.append(f"{path}: {r['steps']} steps, positive rate {r['positive_rate']:.3f}")
        lines += [f"  {name:12s} accuracy {pct(r[name]['accuracy'])}  AUROC {_score(r[name]['auroc'])}  "
                  f"Brier {r[name]['brier']:.3f}  ECE {r[name]['ece']:.3f}"
                  for name in ("model", "persistence", "majority", "simulator") if name in r]
        lines += [f"  placements on {shape:9s} n {p['n']:5d}  stay {p['stay_rate']:.3f}  model accuracy "
                  f"{pct(p['model']['accuracy'])}  precision {_score(p['model'].get('precision'))}  recall "
                  f"{_score(p['model'].get('recall'))}" for shape, p in r.get("placements", {}).items()]
    emit(result, as_json, lines)


def _score(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


@app.command("frames")
def eval_frames(
    model: Path = typer.Option(..., "--model", help="Frame world-model run (foretell train world --kind frame)."),
    data: list[Path] = typer.Option(..., "--data", help="Test dataset with rgb frames; repeat."),
    horizon: int = typer.Option(12, "--horizon", min=1, help="Imagined frames per rollout."),
    samples: int = typer.Option(2, "--samples", min=1, help="Sampled rollouts per context window."),
    steps: int = typer.Option(3, "--steps", min=1, help="Sampler steps per imagined frame."),
    windows: int = typer.Option(2, "--windows", min=1, help="Evenly spaced context windows per episode."),
    seed: int = typer.Option(0, min=0, help="Seed of the sampler and of predict-ocp-v0's cuts."),
    batch_size: int = typer.Option(16, min=1, help="Windows per model call (each with its samples)."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | cuda:N."),
    out: Path = typer.Option(None, help=OUT_HELP),
    as_json: bool = json_option(),
) -> None:
    """Frame model: PSNR/SSIM per rollout step against copy-last, and contact read from imagined frames."""
    from foretell.runtime import resolve_device
    from foretell.worldmodel import load
    from foretell.worldmodel.frame_eval import evaluate_frames, markdown

    check_out(out)
    frame_model = load(model, device=resolve_device(device), kind="frame")
    result = evaluate(lambda progress: evaluate_frames(frame_model, data, horizon, samples, steps, seed, windows,
                                                       batch_size, progress), "frame rollouts", out)
    contact = result["contact"]
    emit(result, as_json, [
        f"frame model, {result['windows']} windows of {result['episodes']} episodes, {samples} samples, "
        f"{steps} sampler steps, horizon {horizon}, seed {seed}",
        f"mean PSNR {result['mean']['psnr']:.2f} dB (copy-last {result['mean']['copy_last_psnr']:.2f}), "
        f"SSIM {result['mean']['ssim']:.4f} (copy-last {result['mean']['copy_last_ssim']:.4f})",
        *markdown(result).splitlines(),
        "contact read from frames: " + ("no passive scenario episodes with states" if not contact or
                                        not contact["episodes"] else
                                        f"{contact['episodes']} episodes (truth rate {pct(contact['truth_rate'])}): "
                                        f"imagined {pct(contact['accuracy'])}, true frames (ceiling) "
                                        f"{pct(contact['true_frames_accuracy'])}, copy-last "
                                        f"{pct(contact['copy_last_accuracy'])}")])
