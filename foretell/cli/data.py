"""``foretell generate`` and ``foretell data``: make datasets, then inspect, validate and export them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from ._common import Space, check_out, emit, json_option, progress

app = typer.Typer(help="Inspect, validate and export generated datasets (see docs/data.md).", no_args_is_help=True)

DATASET = typer.Argument(..., exists=True, file_okay=False, help="Dataset directory.")


def generate(
    env_id: str = typer.Argument(None, help="Registered env id (or use --recipe), e.g. foretell/Collide-v0."),
    out: Path = typer.Option(..., "--out", help="Dataset directory to create (or finish, with --resume)."),
    recipe: Path = typer.Option(None, exists=True, dir_okay=False, help="YAML recipe mixing several envs/tasks "
                                                                         "(docs/data.md)."),
    episodes: int = typer.Option(None, min=1, help="Number of episodes [default: 100]."),
    split: Literal["train", "test"] = typer.Option(None, help="train | test [default: train]; enters every "
                                                                "episode's seed."),
    space: Space = typer.Option(None, help="Property space A (train) | B (held-out) [default: A]."),
    seed: int = typer.Option(None, min=0, help="Dataset seed; episode i's seed derives from it [default: 0]."),
    image_size: int = typer.Option(None, min=16, max=1024, help="Frame size in pixels [default: 64]."),
    obs_keys: str = typer.Option(None, help="Comma-separated frame keys [default: rgb,depth,segmentation,"
                                            "state,properties,object_mask]; add gripper for low-level control."),
    policy: Literal["auto", "passive", "expert", "noisy_expert", "explore", "random"] = typer.Option(
        None, help="auto | passive | expert | noisy_expert | explore (BlockStack: random stacking) | random "
                   "[default: auto]."),
    noise: float = typer.Option(None, min=0.0, max=1.0, help="noisy_expert: share of perturbed low-level steps / random-skill "
                                                   "probability, in [0, 1]."),
    max_steps: int = typer.Option(None, min=1, help="Cap on steps (scenario horizon in frames)."),
    qa: bool = typer.Option(False, "--qa", help="Store QA pairs (scenarios; costs re-simulations)."),
    total_effect: bool = typer.Option(False, "--total-effect", help="Store but-for total-effect graphs "
                                                                     "(scenarios; N re-simulations each)."),
    workers: int = typer.Option(1, min=1, help="Parallel worker processes (or Ray CPUs)."),
    backend: Literal["local", "ray"] = typer.Option("local", help="local | ray (pip install 'foretell[ray]')."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted dataset in --out."),
    variable_graph: list[Path] = typer.Option(None, "--variable-graph", exists=True, dir_okay=False,
                                              help="A variable-level graph (`foretell eval variables --out`) to "
                                                   "store in meta.json; repeatable."),
    as_json: bool = json_option(),
) -> None:
    """Generate a dataset: frames, states, actions, events, text and causal graphs, one file per episode."""
    from foretell.data.generate import attach_variable_graphs, check_variable_graphs
    from foretell.data.generate import generate as run_generate
    from foretell.data.recipe import command_config

    config = command_config(env_id, recipe, out if resume else None, episodes=episodes, split=split,
                            space=space, seed=seed, image_size=image_size, camera=None,
                            obs_keys=obs_keys.split(",") if obs_keys else None, policy=policy, noise=noise,
                            max_steps=max_steps, qa=qa, total_effect=total_effect)
    if variable_graph:
        check_variable_graphs(config, variable_graph)
    if not resume:
        check_out(out / "meta.json")
    report = run_generate(config, out, workers=workers, backend=backend, resume=resume)
    if variable_graph:
        attach_variable_graphs(out, variable_graph)
    emit(report.to_dict(), as_json, [
        f"{out}: {report.episodes} episodes ({report.generated} generated, {report.skipped} already there), "
        f"{report.frames} frames in {report.seconds:.1f} s ({report.episodes_per_s:.2f} episodes/s, "
        f"{report.frames_per_s:.0f} frames/s)"])


@app.command("info")
def data_info(path: Path = DATASET, as_json: bool = json_option()) -> None:
    """Counts, split, space, label balance and sizes of a dataset."""
    from foretell.data.validate import dataset_info, info_lines

    info = dataset_info(path)
    emit(info, as_json, info_lines(info))


@app.command("validate")
def data_validate(path: Path = DATASET, as_json: bool = json_option()) -> None:
    """Check every episode (every chunk's checksum, shapes, JSON); report problems by episode and file."""
    from foretell.data.validate import validate_dataset

    report = validate_dataset(path, progress=progress("validate"))
    lines = [f"{path}: {report['episodes_valid']}/{report['episodes_expected']} episodes valid"]
    lines += [f"  episode {p['episode']} {p['file']}: {p['problem']}" for p in report["problems"]]
    lines += [f"  stray file: {name}" for name in report["stray_files"]]
    emit(report, as_json, lines + ["OK" if report["ok"] else "INVALID"])
    if not report["ok"]:
        raise typer.Exit(code=1)


@app.command("export")
def data_export(
    path: Path = DATASET,
    mp4: Path = typer.Option(None, help="Write mp4 previews (captions drawn in) to this folder."),
    lerobot: Path = typer.Option(None, help="Write a LeRobotDataset v3.0-layout copy to this folder."),
    episodes: int = typer.Option(None, min=1, help="Only the first N episodes."),
    size: int = typer.Option(256, min=16, max=2048, help="Preview frame size (pixels)."),
) -> None:
    """Export mp4 previews and/or a LeRobotDataset v3.0-layout copy."""
    from foretell.data.export import export_lerobot, export_mp4

    if mp4 is None and lerobot is None:
        raise ValueError("give --mp4 OUT and/or --lerobot OUT")
    for folder in (mp4, lerobot):
        check_out(None if folder is None else folder / ".probe")
    if mp4 is not None:
        videos = export_mp4(path, mp4, episodes, size, progress=progress("mp4"))
        typer.echo(f"mp4: {len(videos)} previews in {mp4}")
    if lerobot is not None:
        export_lerobot(path, lerobot, episodes, progress=progress("lerobot"))
        typer.echo(f"lerobot: LeRobotDataset v3.0 layout in {lerobot}")
