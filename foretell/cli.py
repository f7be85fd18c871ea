"""The ``foretell`` command line. Every command has ``--help``; results can print as ``--json``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from . import __version__

os.environ.setdefault("MUJOCO_GL", "egl")

app = typer.Typer(help="foretell: world models and causal reasoning on simulated physics.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
envs_app = typer.Typer(help="List, inspect and render the registered environments.", no_args_is_help=True)
eval_app = typer.Typer(help="Quality evaluations (results belong in docs/results.md).", no_args_is_help=True)
app.add_typer(envs_app, name="envs")
app.add_typer(eval_app, name="eval")
data_app = typer.Typer(help="Inspect, validate and export generated datasets (see docs/data.md).", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"foretell {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """foretell: world models and causal reasoning on simulated physics."""


def _emit(payload: dict, as_json: bool, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        for line in lines:
            typer.echo(line)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def doctor() -> None:
    """Check that MuJoCo can render headless (EGL) and say how to fix it if not."""
    import ctypes.util

    backend = os.environ.get("MUJOCO_GL", "")
    typer.echo(f"MUJOCO_GL={backend}")
    if backend == "egl" and ctypes.util.find_library("EGL") is None:
        _fail("libEGL was not found. On Debian/Ubuntu: sudo apt-get install libegl1 libegl-mesa0 "
              "libgl1-mesa-dri (Mesa llvmpipe renders on the CPU; an NVIDIA driver provides its own EGL).")
    try:
        import mujoco

        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1 1 .1' type='plane'/>"
                                               "</worldbody></mujoco>")
        with mujoco.Renderer(model, 32, 32) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
    except Exception as exc:  # noqa: BLE001 - report any GL failure with the fix
        _fail(f"MuJoCo could not render with MUJOCO_GL={backend}: {exc}. Install the EGL/Mesa packages "
              "(libegl1 libegl-mesa0 libgl1-mesa-dri) or set MUJOCO_GL to a backend this machine has.")
    typer.echo(f"ok: mujoco {mujoco.__version__} renders offscreen")


@envs_app.command("list")
def envs_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List registered environments with a one-line description each."""
    from foretell.envs import list_envs

    envs = list_envs()
    _emit(envs, as_json, [f"{env_id:34s} {desc}" for env_id, desc in envs.items()])


@envs_app.command("show")
def envs_show(
    env_id: str = typer.Argument(..., help="Registered env id, e.g. foretell/BlockStack-v0."),
    seed: int = typer.Option(0, help="Episode seed."),
    policy: str = typer.Option("auto", help="auto (the expert where there is one) | expert | random."),
    space: str = typer.Option("A", help="Property space: A (train) or B (held-out)."),
    out: Path = typer.Option(Path("episode.mp4"), help="Where to write the mp4."),
    camera: str = typer.Option("front", help="front | top."),
    size: int = typer.Option(256, help="Video frame size (pixels)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Run one episode, write it as an mp4 (instruction drawn in), and print the outcome."""
    import gymnasium as gym

    from foretell.envs import list_envs
    from foretell.envs.episodes import run_episode
    from foretell.envs.render import caption_frames, write_video

    if env_id not in list_envs():
        _fail(f"unknown env {env_id!r}; registered: {sorted(list_envs())}")
    try:
        env = gym.make(env_id, space=space, camera=camera, render_size=size, obs_keys=("state",))
        frames: list = []
        summary = run_episode(env, policy, seed, frames=frames)
    except ValueError as exc:
        _fail(str(exc))
    if "goal" in summary:
        caption = summary["instruction"]
        lines = [f"instruction: {caption}",
                 f"goal: {' and '.join(summary['goal'])} (feasible={summary['feasible']})",
                 f"outcome: {'SUCCESS' if summary['success'] else 'FAILURE'} after {summary['steps']} steps, "
                 f"{summary['sim_seconds']:.1f} s simulated"]
    elif hasattr(env.unwrapped, "family"):  # a physics puzzle (envs.puzzle_env): one random attempt
        caption, outcome = env.unwrapped.instruction, env.unwrapped.outcome
        summary.update(task_id=env.unwrapped.task.task_id, instruction=caption, success=outcome.success,
                       violations=outcome.violations)
        lines = [f"task: {summary['task_id']}", f"instruction: {caption}",
                 f"outcome: {'SUCCESS' if outcome.success else 'FAILURE'}"
                 + (f" ({'; '.join(outcome.violations)})" if outcome.violations else "")]
    else:
        caption = f"Will the {summary['agent'].replace('_', ' ')} touch the {summary['patient'].replace('_', ' ')}?"
        edges = summary["causal_graph"]["edges"] if summary.get("causal_graph") else []
        lines = [f"question: {caption}",
                 f"outcome: contact={summary['contact_label']} after {summary['sim_seconds']:.1f} s simulated",
                 "direct causal graph: " + (", ".join(f"{e['source']} -> {e['target']} ({e['kind']})" for e in edges)
                                            or "no edges")]
    write_video(caption_frames(frames, caption), out, fps=env.metadata["render_fps"])
    env.close()
    summary.update(video=str(out), frames=len(frames))
    _emit(summary, as_json, [f"{env_id} seed={seed} space={space} policy={policy}", *lines,
                             f"video: {out} ({len(frames)} frames)"])


@envs_app.command("qa")
def envs_qa(
    env_id: str = typer.Argument(..., help="Registered passive scenario id, e.g. foretell/Collide-v0."),
    seed: int = typer.Option(0, help="Episode seed; also seeds which questions are asked and their wording."),
    space: str = typer.Option("A", help="Property space: A (train) or B (held-out)."),
    counterfactual: bool = typer.Option(True, "--counterfactual/--no-counterfactual",
                                        help="Also ask what-if questions (one re-simulation each)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Print CLEVRER-style question-answer pairs about one scenario episode, answered by the simulator."""
    import gymnasium as gym
    import numpy as np

    from foretell.envs import list_envs, questions
    from foretell.envs.scenario import ScenarioEnv

    if env_id not in list_envs():
        _fail(f"unknown env {env_id!r}; registered: {sorted(list_envs())}")
    try:
        env = gym.make(env_id, space=space, obs_keys=("state",))
    except ValueError as exc:
        _fail(str(exc))
    if not isinstance(env.unwrapped, ScenarioEnv):
        _fail(f"{env_id} is not a passive scenario; questions are asked about scenario episodes only")
    env.reset(seed=seed)
    items = questions(env, np.random.default_rng(seed), counterfactual=counterfactual)
    env.close()
    lines = [f"{env_id} seed={seed} space={space}: {len(items)} questions"]
    for item in items:
        cut = f" [video until frame {item['observe_until_frame']}]" if "observe_until_frame" in item else ""
        lines.append(f"{item['type']:>14s}: {item['question']}{cut} -> {item['answer']}")
    _emit({"env": env_id, "seed": seed, "space": space, "questions": items}, as_json, lines)


def _evaluate(run, desc: str, out: Path | None) -> dict:
    """Run an evaluation with a progress bar; write its JSON to ``out`` atomically if given."""
    from tqdm import tqdm

    from foretell.runtime import atomic_write_json

    try:
        result = run(lambda it: tqdm(it, desc=desc, unit="ep", file=sys.stderr))
    except ValueError as exc:
        _fail(str(exc))
    if out is not None:
        atomic_write_json(out, result)
    return result


@eval_app.command("expert")
def eval_expert(
    env: str = typer.Option("foretell/BlockStack-v0", help="Env id."),
    episodes: int = typer.Option(200, min=1, help="Number of episodes (seeds seed..seed+N-1)."),
    space: str = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, help="First seed."),
    out: Path = typer.Option(None, help="Also write the JSON result here (atomically)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Measure the privileged expert's success on feasible goals and its infeasibility calls."""
    from foretell.envs.episodes import evaluate_expert

    result = _evaluate(lambda progress: evaluate_expert(env, episodes, space, seed, progress=progress),
                       f"expert {space}", out)

    _emit(result, as_json, [
        f"{env} space {space}, {episodes} episodes (seeds {seed}..{seed + episodes - 1})",
        f"feasible goals solved: {_pct(result['feasible_success_rate'])} of {result['feasible_episodes']}",
        f"  needing physical reasoning: {_pct(result['needs_physics_success_rate'])} of "
        f"{result['needs_physics_episodes']}",
        f"infeasible goals declared: {_pct(result['infeasible_declared_rate'])} of {result['infeasible_episodes']}",
        f"overall success: {_pct(result['success_rate'])}; mean steps (feasible) "
        f"{result['mean_steps_feasible']:.2f}; {result['mean_wall_seconds']:.2f} s/episode",
    ])


@eval_app.command("scenario")
def eval_scenario(
    env: str = typer.Option("foretell/Collide-v0", help="A passive scenario env id."),
    episodes: int = typer.Option(100, min=1, help="Number of episodes (seeds seed..seed+N-1)."),
    space: str = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, help="First seed."),
    but_for: bool = typer.Option(True, "--but-for/--no-but-for", help="Also re-simulate for total-effect graphs."),
    out: Path = typer.Option(None, help="Also write the JSON result here (atomically)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Contact-label balance and direct vs total-effect causal-graph agreement of a scenario."""
    from foretell.envs.episodes import evaluate_scenario

    result = _evaluate(lambda progress: evaluate_scenario(env, episodes, space, seed, but_for=but_for,
                                                          progress=progress), f"{env} {space}", out)
    agreement = result["closure_agreement_rate"]
    _emit(result, as_json, [
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
            "agreement on them: " + _pct(result["clean_agreement_rate"]) + ", prevention set aside: "
            + _pct(result["clean_agreement_rate_except_prevention"])]),
    ])


@eval_app.command("first-frame")
def eval_first_frame(
    env_id: str = typer.Option("foretell/Collide-v0", "--env", help="A passive scenario env id."),
    episodes: int = typer.Option(300, min=10, help="Number of episodes (seeds seed..seed+N-1)."),
    space: str = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, help="First seed."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds."),
    out: Path | None = typer.Option(None, help="Also write the JSON result here (atomically)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """How well the first frame alone predicts the contact label (a still-image baseline)."""
    from foretell.envs import SCENARIO_IDS
    from foretell.envs.predictability import first_frame_baseline

    if env_id not in SCENARIO_IDS:
        _fail(f"{env_id!r} is not a passive scenario; choose one of {list(SCENARIO_IDS)}")
    result = _evaluate(lambda progress: first_frame_baseline(env_id, episodes, space, seed, folds, progress),
                       f"{env_id} first frames", out)
    _emit(result, as_json, [
        f"{env_id} space {space}: {result['episodes']} episodes, contact rate {_pct(result['contact_rate'])}",
        f"majority guess: {_pct(result['majority_accuracy'])}",
        f"logistic regression on the first frame: accuracy {_pct(result['logistic_accuracy'])}, "
        f"AUROC {result['logistic_auroc']:.3f}",
        f"MLP on the first frame: accuracy {_pct(result['mlp_accuracy'])}, AUROC {result['mlp_auroc']:.3f}"])


@eval_app.command("variables")
def eval_variables(
    env: str = typer.Option("foretell/GlassBreak-v0", help="A passive scenario env id."),
    seeds: int = typer.Option(60, min=1, help="Number of episodes (seeds seed..seed+N-1)."),
    space: str = typer.Option("A", help="Property space: A or B."),
    seed: int = typer.Option(0, help="First seed."),
    cause: list[str] = typer.Option(None, "--cause", help="Only this cause variable (repeatable; default all)."),
    out: Path = typer.Option(None, help="Also write the graph here as node-link JSON (atomically)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (the node-link graph)."),
) -> None:
    """Variable-level causal graph of a scenario family, from paired do(low)/do(high) rollouts."""
    from foretell.envs.variable_graph import graph_to_json, variable_graph

    result = _evaluate(lambda progress: graph_to_json(variable_graph(
        env, range(seed, seed + seeds), space, causes=cause or None, progress=progress)), f"{env} {space}", out)
    meta = result["graph"]
    _emit(result, as_json, [
        f"{env} space {space}, {seeds} seeds ({seed}..{seed + seeds - 1}): {meta['bonferroni_tests']} "
        f"cause-outcome pairs, sign test at alpha {meta['alpha']} / {meta['bonferroni_tests']} = "
        f"{meta['alpha_corrected']:.1e}, |weight| >= {meta['min_effect']}",
        f"edges ({len(result['edges'])}):" if result["edges"] else "no edges",
        *(f"  {e['source']} -> {e['target']}: effect {'+' if e['effect'] > 0 else '-'}, weight "
          f"{e['weight']:.2f}, p {e['p_value']:.1e}, changed in {e['n_changed']}/{e['n']} seeds"
          for e in sorted(result["edges"], key=lambda e: e["p_value"])),
    ])


@app.command()
def generate(
    env_id: str = typer.Argument(None, help="Registered env id (or use --recipe), e.g. foretell/Collide-v0."),
    out: Path = typer.Option(..., "--out", help="Dataset directory to create (or finish, with --resume)."),
    recipe: Path = typer.Option(None, help="YAML recipe mixing several envs/tasks (docs/data.md)."),
    episodes: int = typer.Option(None, min=1, help="Number of episodes [default: 100]."),
    split: str = typer.Option(None, help="train | test [default: train]; enters every episode's seed."),
    space: str = typer.Option(None, help="Property space A (train) | B (held-out) [default: A]."),
    seed: int = typer.Option(None, min=0, help="Dataset seed; episode i's seed derives from it [default: 0]."),
    image_size: int = typer.Option(None, help="Frame size in pixels [default: 64]."),
    obs_keys: str = typer.Option(None, help="Comma-separated frame keys [default: rgb,depth,segmentation,"
                                            "state,properties,object_mask]; add gripper for low-level control."),
    policy: str = typer.Option(None, help="auto | passive | expert | noisy_expert | random [default: auto]."),
    noise: float = typer.Option(None, help="noisy_expert: action noise std / random-skill probability."),
    max_steps: int = typer.Option(None, min=1, help="Cap on steps (scenario horizon in frames)."),
    qa: bool = typer.Option(False, "--qa", help="Store QA pairs (scenarios; costs re-simulations)."),
    total_effect: bool = typer.Option(False, "--total-effect", help="Store but-for total-effect graphs "
                                                                     "(scenarios; N re-simulations each)."),
    workers: int = typer.Option(1, min=1, help="Parallel worker processes (or Ray CPUs)."),
    backend: str = typer.Option("local", help="local | ray (pip install 'foretell[ray]')."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted dataset in --out."),
    variable_graph: list[Path] = typer.Option(None, "--variable-graph", help="A variable-level graph "
                                              "(`foretell eval variables --out`) to store in meta.json; repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Generate a dataset: frames, states, actions, events, text and causal graphs, one file per episode."""
    from foretell.data.generate import attach_variable_graphs
    from foretell.data.generate import generate as run_generate
    from foretell.data.recipe import command_config

    try:
        config = command_config(env_id, recipe, out if resume else None, episodes=episodes, split=split,
                                space=space, seed=seed, image_size=image_size, camera=None,
                                obs_keys=obs_keys.split(",") if obs_keys else None, policy=policy, noise=noise,
                                max_steps=max_steps, qa=qa, total_effect=total_effect)
        report = run_generate(config, out, workers=workers, backend=backend, resume=resume)
        if variable_graph:
            attach_variable_graphs(out, variable_graph)
    except (ValueError, FileExistsError, RuntimeError) as exc:
        _fail(str(exc))
    result = report.to_dict()
    _emit(result, as_json, [f"{out}: {report.episodes} episodes ({report.generated} generated, {report.skipped} "
                            f"already there), {report.frames} frames in {report.seconds:.1f} s "
                            f"({report.episodes_per_s:.2f} episodes/s, {report.frames_per_s:.0f} frames/s)"])


@data_app.command("info")
def data_info(path: Path = typer.Argument(..., help="Dataset directory."),
              as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Counts, split, space, label balance and sizes of a dataset."""
    from foretell.data.validate import dataset_info, info_lines

    try:
        info = dataset_info(path)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _emit(info, as_json, info_lines(info))


@data_app.command("validate")
def data_validate(path: Path = typer.Argument(..., help="Dataset directory."),
                  as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Check every episode (every chunk's checksum, shapes, JSON); report problems by episode and file."""
    from tqdm import tqdm

    from foretell.data.validate import validate_dataset

    report = validate_dataset(path, progress=lambda it: tqdm(it, desc="validate", unit="ep", file=sys.stderr))
    lines = [f"{path}: {report['episodes_valid']}/{report['episodes_expected']} episodes valid"]
    lines += [f"  episode {p['episode']} {p['file']}: {p['problem']}" for p in report["problems"]]
    lines += [f"  stray file: {name}" for name in report["stray_files"]]
    _emit(report, as_json, lines + ["OK" if report["ok"] else "INVALID"])
    if not report["ok"]:
        raise typer.Exit(code=1)


@data_app.command("export")
def data_export(
    path: Path = typer.Argument(..., help="Dataset directory."),
    mp4: Path = typer.Option(None, help="Write mp4 previews (captions drawn in) to this folder."),
    lerobot: Path = typer.Option(None, help="Write a LeRobotDataset v3.0-layout copy to this folder."),
    episodes: int = typer.Option(None, min=1, help="Only the first N episodes."),
    size: int = typer.Option(256, help="Preview frame size (pixels)."),
) -> None:
    """Export mp4 previews and/or a LeRobotDataset v3.0-layout copy."""
    from tqdm import tqdm

    from foretell.data.export import export_lerobot, export_mp4

    if mp4 is None and lerobot is None:
        _fail("give --mp4 OUT and/or --lerobot OUT")
    try:
        if mp4 is not None:
            videos = export_mp4(path, mp4, episodes, size,
                                progress=lambda it: tqdm(it, desc="mp4", unit="ep", file=sys.stderr))
            typer.echo(f"mp4: {len(videos)} previews in {mp4}")
        if lerobot is not None:
            export_lerobot(path, lerobot, episodes,
                           progress=lambda it: tqdm(it, desc="lerobot", unit="ep", file=sys.stderr))
            typer.echo(f"lerobot: LeRobotDataset v3.0 layout in {lerobot}")
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        _fail(str(exc))


@eval_app.command("puzzles")
def eval_puzzles(
    split: str = typer.Option("train", help="Task split: train or heldout."),
    agent: str = typer.Option("random", help="Agent: random (uniform actions until the first success)."),
    attempts: int = typer.Option(100, min=1, help="Attempts per task (PHYRE uses 100)."),
    tasks_per_template: int = typer.Option(None, min=1, help="First N stored tasks of each template (default all)."),
    seed: int = typer.Option(0, help="Seed of the agent's random generator."),
    out: Path = typer.Option(None, help="Also write the JSON result here (atomically)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The puzzles-v0 benchmark: AUCCESS (PHYRE) and first-attempt success on a fixed task set."""
    from foretell.envs.puzzles import evaluate_random

    if agent != "random":
        _fail(f"unknown agent {agent!r}; available: random")
    result = _evaluate(lambda progress: evaluate_random(split, attempts, tasks_per_template, seed, progress=progress),
                       f"puzzles {split}", out)
    _emit(result, as_json, [
        f"puzzles-v0 {split}, agent {agent}, {result['tasks']} tasks, {attempts} attempts, seed {seed}",
        f"AUCCESS {result['auccess']:.3f}; first-attempt success {100 * result['first_attempt_success']:.1f}%; "
        f"solved within {attempts}: {100 * result['solved']:.1f}%",
        *(f"  {name:20s} AUCCESS {row['auccess']:.3f}  first {100 * row['first_attempt_success']:5.1f}%  "
          f"solved {100 * row['solved']:5.1f}%  ({row['n']} tasks)" for name, row in result["per_template"].items()),
    ])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
