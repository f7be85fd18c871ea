"""``foretell train``: train models (see docs/worldmodel.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import typer

from ._common import emit, json_option, progress

app = typer.Typer(help="Train models (see docs/worldmodel.md).", no_args_is_help=True)


@app.command("world")
def train_world(
    kind: Literal["object", "regressor", "frame"] = typer.Option(
        None, help="object (object-state diffusion) | regressor (its deterministic MSE baseline, same trunk) | "
                   "frame (pixel diffusion on rgb frames) [default: object, or the resumed run's]."),
    data: list[Path] = typer.Option(None, "--data", file_okay=False,
                                    help="Dataset folder (foretell generate); repeat to train on several."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints, metrics, TensorBoard logs."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    bf16: bool = typer.Option(False, "--bf16", help="bfloat16 autocast (for GPUs; runs, slower, on CPUs)."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the denoiser (for GPUs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    steps: int = typer.Option(None, min=1, help="Optimizer steps [default: 1500; frame: 600]."),
    seed: int = typer.Option(None, min=0, help="Seed of the weights and of every step's draws [default: 0]."),
    batch_size: int = typer.Option(None, min=1, help="Windows per step and process [default: 64; frame: 16]."),
    history: int = typer.Option(None, min=1, help="Observed steps K [default: 4]."),
    horizon: int = typer.Option(None, min=1, help="Predicted steps H [default: 12; not for frame]."),
    checkpoint_every: int = typer.Option(None, min=1, help="Steps between checkpoints [default: 250]."),
    hidden_dim: int = typer.Option(None, min=8, help="Object models: transformer width [default: 128]."),
    num_layers: int = typer.Option(None, min=1, help="Object models: transformer blocks [default: 4]."),
    skill_prior: bool = typer.Option(None, "--skill-prior/--no-skill-prior",
                                     help="Skill models: predict positions as residuals from where the skill sends "
                                          "the object (better held-out skill outcomes, worse planning: "
                                          "docs/results.md) [default: off]."),
    velocity_prior: bool = typer.Option(None, "--velocity-prior/--no-velocity-prior",
                                        help="Scenario and low-level object models: predict positions as residuals "
                                             "from constant velocity [default: on for them; skill data: off]."),
    relational: bool = typer.Option(None, "--relational/--no-relational",
                                    help="Object models: objects attend only to their neighbours, through their "
                                         "relative positions, and read heights clipped at 12 cm (more objects and "
                                         "taller towers than training held: docs/worldmodel.md) [default: off]."),
    scale_augment: float = typer.Option(None, "--scale-augment", min=1.0, max=3.0,
                                        help="Skill models: scale each training scene by a factor in [1/S, S] "
                                             "(sizes the data lacks) [default: 1, off]."),
    motion_weight: float = typer.Option(None, "--motion-weight", min=0.0, max=100.0,
                                        help="Object models: draw training windows in which objects move more "
                                             "often, weight 1 + W x motion / mean motion (puzzles: 3) [default: 0, "
                                             "uniform]."),
    start_weight: float = typer.Option(None, "--start-weight", min=0.0, max=100.0,
                                       help="Object models: draw the windows that open an episode 1 + S times as "
                                            "often (puzzles: the release) [default: 0, off]."),
    as_json: bool = json_option(),
) -> None:
    """Train a world model on datasets; under torchrun, with DDP (gloo on CPU, nccl on CUDA)."""
    from foretell.worldmodel.train import command_config, train

    config = command_config(out, resume, kind=kind, data=data or None, device=device, bf16=bf16,
                            compile=compile_model, steps=steps, seed=seed, batch_size=batch_size, history=history, horizon=horizon,
                            checkpoint_every=checkpoint_every, hidden_dim=hidden_dim, num_layers=num_layers,
                            skill_prior=skill_prior, velocity_prior=velocity_prior, relational=relational,
                            scale_augment=scale_augment,
                            motion_weight=motion_weight, start_weight=start_weight)
    summary = train(config, resume=resume, progress=progress("train", unit="step"))
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 reports
    emit(summary, as_json, [
        f"{summary['run']}: {summary['steps']} steps"
        + (f" (resumed from step {summary['resumed_from_step']})" if summary["resumed_from_step"] else "")
        + f", final loss {summary['final_loss']:.4f}",
        f"{summary['parameters']:,} parameters, {summary['windows']:,} training windows, "
        f"{summary['samples_per_s']:.0f} samples/s on {summary['device']} x {summary['world_size']}",
        f"model (EMA weights): {summary['checkpoint']}  (foretell.worldmodel."
        + ("regressor.load_model" if summary["kind"] == "regressor" else "load") + f"('{summary['run']}'))",
    ])
