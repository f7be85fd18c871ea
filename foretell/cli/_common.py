"""What every command group shares: option types, output (text or ``--json``), progress bars and
the one place where user mistakes become a single ``error:`` line and exit code 2."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Literal

import typer
import typer.core
from typer.core import TyperGroup

Space = Literal["A", "B"]

USER_ERRORS = (ValueError, OSError, RuntimeError)
"""What a command's library call raises for bad input, a missing or unwritable file, or a dataset
it cannot finish; each is reported as one line. ``FORETELL_DEBUG=1`` shows the traceback instead."""


class GuardedGroup(TyperGroup):
    """The root command group: a user mistake anywhere below it ends in one line and exit code 2.

    Click's own usage errors (a bad option value) print as plain ``Error: ...`` lines rather than
    a rich box, so they read the same as ours; help pages stay rich.
    """

    def main(self, *args, **kwargs):
        plain_main = getattr(typer.core, "_main", None)
        if plain_main is None:  # a typer without the hook: its own (boxed) error format
            return super().main(*args, **kwargs)
        names = ("args", "prog_name", "complete_var", "standalone_mode", "windows_expand_args")
        kwargs.update(zip(names, args, strict=False))
        return plain_main(self, rich_markup_mode=None, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            if isinstance(exc, (typer.Exit, typer.Abort)) or os.environ.get("FORETELL_DEBUG"):
                raise  # typer's Exit and Abort are RuntimeErrors too
            fail(str(exc) or type(exc).__name__)


def json_option() -> bool:
    return typer.Option(False, "--json", help="Machine-readable output.")


# ``--world-model RUN`` of the BlockStack planners, repeatable: two or more runs are imagined as one
# ensemble (``foretell.worldmodel.ModelEnsemble``: every run imagines S futures, pooled)
WORLD_MODELS = typer.Option(None, "--world-model", file_okay=False, exists=True,
                            help="World-model run (foretell train world): a skill model trained on BlockStack-v0 "
                                 "data for llm+wm, draft-verify and cem+wm (foretell plan --task puzzles-v0: a puzzle "
                                 "model). Repeat it for an ensemble of skill models (each run imagines S futures, "
                                 "pooled).")
# ``--wait SECONDS`` of the BlockStack planners (``PlannerConfig.wait``), in foretell plan, bench plan, eval plans
WAIT = typer.Option(5.0, "--wait", min=0.0, max=10.0, help="Seconds to wait, after a step that left the scene "
                                                          "moving, for it to come to rest before the step is judged "
                                                          "and the planner replans (0: at once).")
# ``--aim/--no-aim`` of the BlockStack planners (``PlannerConfig.aim``), in the same three commands
AIM = typer.Option(True, "--aim/--no-aim", help="Aim a placement on an object at the axis of the pile it goes on "
                                                "(at most 1 cm off the target's centre) so that placement misses "
                                                "do not add up and tilt the pile; --no-aim: on the target's centre.")


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with code 2."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code=2)


def emit(payload: dict, as_json: bool, lines: list[str]) -> None:
    """Print ``payload`` as JSON, or the human-readable ``lines``."""
    if as_json:
        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        for line in lines:
            typer.echo(line)


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def progress(desc: str, unit: str = "ep") -> Callable[[Iterable], Iterable]:
    """A progress-bar wrapper for library loops (on stderr, so ``--json`` output stays clean)."""
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=desc, unit=unit, file=sys.stderr)


def check_out(path) -> None:
    """Fail before the work starts when ``--out`` cannot be written (``None``: nothing to check)."""
    if path is not None:
        from foretell.runtime import check_writable

        check_writable(path)


def evaluate(run: Callable[[Callable], dict], desc: str, out) -> dict:
    """Run an evaluation with a progress bar; write its JSON to ``out`` atomically if given."""
    from foretell.runtime import atomic_write_json

    result = run(progress(desc))
    if out is not None:
        atomic_write_json(out, result)
    return result
