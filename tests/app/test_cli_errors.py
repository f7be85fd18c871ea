"""Every user mistake ends in one clear line and a non-zero exit, before the work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from foretell.cli import app

runner = CliRunner()
NOWHERE = "/proc/foretell-nope"  # cannot be created, even by root
GRAPHS = Path(__file__).resolve().parents[2] / "docs" / "graphs"


def _mistakes(tmp: str) -> list[tuple[str, list[str], str]]:
    """(id, argv, a phrase the error must contain)."""
    return [
        ("show-unwritable-out", ["envs", "show", "foretell/BlockStack-v0", "--out", f"{NOWHERE}/x.mp4"], "cannot write"),
        ("show-out-is-a-folder", ["envs", "show", "foretell/BlockStack-v0", "--out", tmp], "is a folder"),
        ("show-unknown-env", ["envs", "show", "foretell/Nope-v0", "--out", f"{tmp}/x.mp4"], "unknown env"),
        ("show-no-expert", ["envs", "show", "foretell/Collide-v0", "--policy", "expert", "--out", f"{tmp}/x.mp4"],
         "has no expert"),
        ("show-size-zero", ["envs", "show", "foretell/BlockStack-v0", "--size", "0"], "--size"),
        ("show-bad-space", ["envs", "show", "foretell/BlockStack-v0", "--space", "C"], "--space"),
        ("show-bad-camera", ["envs", "show", "foretell/BlockStack-v0", "--camera", "side"], "--camera"),
        ("qa-not-a-scenario", ["envs", "qa", "foretell/BlockStack-v0"], "needs a scenario env"),
        ("qa-unknown-env", ["envs", "qa", "foretell/Nope-v0"], "unknown env"),
        ("scenario-wrong-kind", ["eval", "scenario", "--env", "foretell/BlockStack-v0"], "needs a scenario env"),
        ("scenario-negative-seed", ["eval", "scenario", "--seed", "-1"], "--seed"),
        ("scenario-unwritable-out", ["eval", "scenario", "--episodes", "1", "--out", f"{NOWHERE}/r.json"],
         "cannot write"),
        ("expert-wrong-kind", ["eval", "expert", "--env", "foretell/Collide-v0"], "needs a blockstack env"),
        ("expert-zero-episodes", ["eval", "expert", "--episodes", "0"], "--episodes"),
        ("first-frame-wrong-kind", ["eval", "first-frame", "--env", "foretell/PuzzleDrop-v0"], "needs a scenario"),
        ("first-frame-folds", ["eval", "first-frame", "--episodes", "10", "--folds", "20"], "--folds"),
        ("variables-wrong-kind", ["eval", "variables", "--env", "foretell/BlockStack-v0"], "needs a scenario"),
        ("variables-unknown-cause", ["eval", "variables", "--env", "foretell/Collide-v0", "--seeds", "1",
                                     "--cause", "nope.mass"], "nope.mass"),
        ("plans-no-world-model", ["eval", "plans"], "--world-model RUN is required"),
        ("plans-bad-repeats", ["eval", "plans", "--world-model", tmp, "--repeats", "1,x"], "--repeats"),
        ("plans-no-such-tasks", ["eval", "plans", "--world-model", tmp, "--min-balls", "3"], "no feasible"),
        ("puzzles-bad-split", ["eval", "puzzles", "--split", "test"], "--split"),
        ("puzzles-unwritable-out", ["eval", "puzzles", "--out", f"{NOWHERE}/p.json"], "cannot write"),
        ("generate-unknown-env", ["generate", "foretell/Nope-v0", "--out", f"{tmp}/ds"], "foretell/Nope-v0"),
        ("generate-nothing", ["generate", "--out", f"{tmp}/ds"], "recipe"),
        ("generate-unwritable", ["generate", "foretell/Collide-v0", "--episodes", "1", "--out", f"{NOWHERE}/ds"],
         "cannot write"),
        ("generate-zero-episodes", ["generate", "foretell/Collide-v0", "--episodes", "0", "--out", f"{tmp}/ds"],
         "--episodes"),
        ("generate-bad-key", ["generate", "foretell/Collide-v0", "--obs-keys", "rgb,sound", "--out", f"{tmp}/ds"],
         "sound"),
        ("generate-bad-policy", ["generate", "foretell/Collide-v0", "--policy", "genius", "--out", f"{tmp}/ds"],
         "--policy"),
        ("generate-graph-of-another-env", ["generate", "foretell/Collide-v0", "--episodes", "1", "--out",
                                           f"{tmp}/ds", "--variable-graph", str(GRAPHS / "GlassBreak-A.json")],
         "GlassBreak"),
        ("generate-no-recipe", ["generate", "--recipe", f"{tmp}/none.yaml", "--out", f"{tmp}/ds"], "--recipe"),
        ("info-missing", ["data", "info", f"{tmp}/none"], "does not exist"),
        ("info-not-a-dataset", ["data", "info", tmp], "meta.json"),
        ("export-nothing-asked", ["data", "export", tmp], "--mp4"),
    ]


@pytest.mark.parametrize("case", _mistakes("TMP"), ids=lambda c: c[0])
def test_a_mistake_is_one_clear_line(case, tmp_path):
    _, argv, phrase = case
    argv = [a.replace("TMP", str(tmp_path)) for a in argv]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert phrase in " ".join(result.output.split()), result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1  # ours are one line; click's own usage errors come in its usual box
    assert not list(tmp_path.glob("ds/episodes/*")), "work started before the mistake was caught"
