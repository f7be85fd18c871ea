"""The ``foretell`` command line: one module per command group, each a thin Typer app that parses
flags and calls a library function. Shared output, progress and error handling: ``_common``.

Every command has ``--help``; results print as text or ``--json``; a user mistake (unknown env,
wrong kind of env, out-of-range number, unwritable path) ends in one ``error:`` line and exit 2.
"""

from __future__ import annotations

import os

import typer

from foretell import __version__

from . import data, envs, plan, train, worldmodel
from . import eval as eval_cmds
from ._common import GuardedGroup
from .doctor import doctor

os.environ.setdefault("MUJOCO_GL", "egl")

app = typer.Typer(cls=GuardedGroup, help="foretell: world models and causal reasoning on simulated physics.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command()(doctor)
app.command()(data.generate)
app.add_typer(envs.app, name="envs")
app.add_typer(eval_cmds.app, name="eval")
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.add_typer(worldmodel.app, name="worldmodel")
app.command("plan")(plan.plan)
app.add_typer(plan.bench_app, name="bench")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"foretell {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """foretell: world models and causal reasoning on simulated physics."""


def main() -> None:
    app()


__all__ = ["app", "main"]
