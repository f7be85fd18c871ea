"""``foretell worldmodel``: look at what a trained world model predicts (see docs/ocp.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from ._common import check_out, emit, json_option

app = typer.Typer(help="Inspect trained world models (see docs/ocp.md).", no_args_is_help=True)


@app.command("show")
def show(
    model: Path = typer.Option(..., "--model", help="Object world-model (or regressor) run, or a frame-model run."),
    data: Path = typer.Option(..., "--data", help="A scenario dataset (one family and space)."),
    episode: int = typer.Option(0, "--episode", min=0, help="Episode index in the dataset."),
    out: Path = typer.Option(..., "--out", help="The mp4 to write (atomically)."),
    samples: int = typer.Option(4, "--samples", min=1, max=12, help="Sampled futures shown beside the truth."),
    size: int = typer.Option(160, "--size", min=32, max=640, help="Pixels per panel (square)."),
    steps: int = typer.Option(4, "--steps", min=1, help="Sampler steps per horizon chunk."),
    seed: int = typer.Option(0, min=0, help="Seed of the prefix rule and the sampler."),
    properties: Literal["visible", "all", "none"] = typer.Option("visible", help="What the model is told "
                                                                              "(as in eval predict)."),
    as_json: bool = json_option(),
) -> None:
    """Render an episode's truth beside futures the model samples from its predict-ocp-v0 prefix."""
    from foretell.worldmodel.checkpoint import FRAME_CLASS, model_class_name
    from foretell.worldmodel.ocp_model import compare_video

    check_out(out)
    if model_class_name(model) == FRAME_CLASS:  # a frame model imagines the pixels themselves
        _show_frames(model, data, episode, out, samples, size, steps, seed, as_json)
        return
    result = compare_video(model, data, episode, out, samples, seed, size, steps, properties)
    emit(result, as_json, [
        f"{result['out']}: {result['env_id']} space {result['space']} episode {episode}, {result['frames']} frames "
        f"(truth | {samples} samples), observed up to frame {result['cut']}",
        f"true contact: {'yes' if result['label'] else 'no'}; sampled p(contact) {result['p_contact']:.2f}"])


def _show_frames(model: Path, data: Path, episode: int, out: Path, samples: int, size: int, steps: int, seed: int,
                 as_json: bool) -> None:
    from foretell.worldmodel import load
    from foretell.worldmodel.frame_eval import compare_frames_video

    result = compare_frames_video(load(model, kind="frame"), data, episode, out, samples, size, steps, seed)
    emit(result, as_json, [f"{result['out']}: episode {episode}, {result['frames']} frames (truth | {samples} "
                           f"imagined rollouts), observed up to frame {result['context_end']}"])
