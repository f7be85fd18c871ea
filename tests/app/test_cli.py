"""CLI smoke tests: the real commands on tiny budgets."""

import json

import cv2
import pytest
from typer.testing import CliRunner

from foretell import __version__
from foretell.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def _command_paths(command=None, prefix=()):
    """Every command and group of the CLI, as argument lists (so new commands are covered)."""
    import typer.main

    command = command or typer.main.get_command(app)
    yield list(prefix)
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*prefix, name))


@pytest.mark.parametrize("args", list(_command_paths()), ids=lambda a: " ".join(a) or "foretell")
def test_help_everywhere(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_envs_list_json():
    result = runner.invoke(app, ["envs", "list", "--json"])
    assert result.exit_code == 0
    assert "foretell/BlockStack-v0" in json.loads(result.output)


def test_envs_show_writes_a_video(tmp_path):
    out = tmp_path / "ep.mp4"
    result = runner.invoke(app, ["envs", "show", "foretell/BlockStack-v0", "--seed", "1", "--size", "64",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["success"] and out.exists()
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["frames"] > 10
    ok, frame = cap.read()
    assert ok and frame.shape == (64, 64, 3)


def test_envs_show_random_low_level(tmp_path):
    out = tmp_path / "ll.mp4"
    result = runner.invoke(app, ["envs", "show", "foretell/BlockStackLowLevel-v0", "--policy", "random",
                                 "--size", "48", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "outcome:" in result.output and out.exists()


def test_envs_show_unknown_env(tmp_path):
    result = runner.invoke(app, ["envs", "show", "foretell/Nope-v0", "--out", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2 and "unknown env" in result.output


def test_eval_expert_json(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", "expert", "--episodes", "2", "--space", "B", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["episodes"] == 2 and json.loads(out.read_text()) == payload


def test_doctor():
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0 and "renders offscreen" in result.output


def test_eval_variables_writes_a_variable_graph(tmp_path):
    from foretell.envs.measure.variable_graph import load_variable_graph

    out = tmp_path / "graph.json"
    result = runner.invoke(app, ["eval", "variables", "--env", "foretell/GlassBreak-v0", "--seeds", "2",
                                 "--cause", "agent.speed", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["graph"]["level"] == "variable" and json.loads(out.read_text()) == payload
    assert "agent.speed" in load_variable_graph(out)
    result = runner.invoke(app, ["eval", "variables", "--env", "foretell/BlockStack-v0", "--seeds", "1"])
    assert result.exit_code == 2 and "needs a scenario env" in result.output


def test_eval_first_frame_json(tmp_path):
    out = tmp_path / "ff.json"
    result = runner.invoke(app, ["eval", "first-frame", "--env", "foretell/Drop-v0", "--episodes", "10", "--folds",
                                 "2", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["episodes"] == 10 and 0.0 <= data["logistic_accuracy"] <= 1.0
    assert runner.invoke(app, ["eval", "first-frame", "--env", "foretell/BlockStack-v0"]).exit_code == 2


def test_envs_qa_json():
    result = runner.invoke(app, ["envs", "qa", "foretell/Collide-v0", "--seed", "2", "--json", "--no-counterfactual"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["questions"] and all(q["type"] != "counterfactual" for q in payload["questions"])
    result = runner.invoke(app, ["envs", "qa", "foretell/BlockStack-v0"])
    assert result.exit_code == 2 and "needs a scenario env" in result.output


def test_eval_puzzles_tiny_budget(tmp_path):
    out = tmp_path / "puzzles.json"
    result = runner.invoke(app, ["eval", "puzzles", "--split", "heldout", "--agent", "random", "--attempts", "2",
                                 "--tasks-per-template", "1", "--seed", "1", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    assert payload["tasks"] == 6 and 0.0 <= payload["auccess"] <= 1.0 and json.loads(out.read_text()) == payload
    result = runner.invoke(app, ["eval", "puzzles", "--split", "test", "--attempts", "1", "--tasks-per-template", "1"])
    assert result.exit_code == 2 and "split" in result.output


def test_envs_show_a_puzzle(tmp_path):
    out = tmp_path / "puzzle.mp4"
    result = runner.invoke(app, ["envs", "show", "foretell/PuzzleDrop-v0", "--seed", "2", "--size", "48",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "instruction: Drop the red ball" in result.output and out.exists()
