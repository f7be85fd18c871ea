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


@pytest.mark.parametrize("args", [[], ["envs"], ["eval"], ["envs", "show"], ["eval", "expert"], ["doctor"]])
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
