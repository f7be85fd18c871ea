"""``foretell envs``: list, inspect and render the registered environments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from ._common import Space, check_out, emit, json_option

app = typer.Typer(help="List, inspect and render the registered environments.", no_args_is_help=True)


@app.command("list")
def envs_list(as_json: bool = json_option()) -> None:
    """List registered environments with a one-line description each."""
    from foretell.envs import list_envs

    envs = list_envs()
    emit(envs, as_json, [f"{env_id:34s} {desc}" for env_id, desc in envs.items()])


@app.command("show")
def envs_show(
    env_id: str = typer.Argument(..., help="Registered env id, e.g. foretell/BlockStack-v0."),
    seed: int = typer.Option(0, min=0, help="Episode seed."),
    policy: Literal["auto", "expert", "random"] = typer.Option(
        "auto", help="auto (the expert where there is one) | expert | random."),
    space: Space = typer.Option("A", help="Property space: A (train) or B (held-out)."),
    out: Path = typer.Option(Path("episode.mp4"), help="Where to write the mp4."),
    camera: Literal["front", "top"] = typer.Option("front", help="front | top."),
    size: int = typer.Option(256, min=16, max=2048, help="Video frame size (pixels)."),
    as_json: bool = json_option(),
) -> None:
    """Run one episode, write it as an mp4 (instruction drawn in), and print the outcome."""
    import gymnasium as gym

    from foretell.envs import check_env
    from foretell.envs.measure.episodes import run_episode
    from foretell.envs.sim.render import caption_frames, write_video

    family = check_env(env_id)
    if policy == "expert" and family != "blockstack":
        raise ValueError(f"{env_id} has no expert (only the BlockStack envs do); use --policy auto or random")
    check_out(out)
    env = gym.make(env_id, space=space, camera=camera, render_size=size, obs_keys=("state",))
    frames: list = []
    summary = run_episode(env, policy, seed, frames=frames)
    if family == "blockstack":
        caption = summary["instruction"]
        lines = [f"instruction: {caption}",
                 f"goal: {' and '.join(summary['goal'])} (feasible={summary['feasible']})",
                 f"outcome: {'SUCCESS' if summary['success'] else 'FAILURE'} after {summary['steps']} steps, "
                 f"{summary['sim_seconds']:.1f} s simulated"]
    elif family == "puzzle":  # one random attempt
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
    emit(summary, as_json, [f"{env_id} seed={seed} space={space} policy={policy}", *lines,
                            f"video: {out} ({len(frames)} frames)"])


@app.command("qa")
def envs_qa(
    env_id: str = typer.Argument(..., help="Registered passive scenario id, e.g. foretell/Collide-v0."),
    seed: int = typer.Option(0, min=0, help="Episode seed; also seeds which questions are asked and their wording."),
    space: Space = typer.Option("A", help="Property space: A (train) or B (held-out)."),
    counterfactual: bool = typer.Option(True, "--counterfactual/--no-counterfactual",
                                        help="Also ask what-if questions (one re-simulation each)."),
    as_json: bool = json_option(),
) -> None:
    """Print CLEVRER-style question-answer pairs about one scenario episode, answered by the simulator."""
    import gymnasium as gym
    import numpy as np

    from foretell.envs import check_env, questions

    check_env(env_id, "scenario")
    env = gym.make(env_id, space=space, obs_keys=("state",))
    env.reset(seed=seed)
    items = questions(env, np.random.default_rng(seed), counterfactual=counterfactual)
    env.close()
    lines = [f"{env_id} seed={seed} space={space}: {len(items)} questions"]
    for item in items:
        cut = f" [video until frame {item['observe_until_frame']}]" if "observe_until_frame" in item else ""
        lines.append(f"{item['type']:>14s}: {item['question']}{cut} -> {item['answer']}")
    emit({"env": env_id, "seed": seed, "space": space, "questions": items}, as_json, lines)
