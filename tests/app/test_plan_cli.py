"""``foretell plan`` and ``foretell bench plan`` on tiny budgets (no LLM: the expert and the
baselines), the Ray backend on a local Ray, and the user mistakes each must refuse cleanly."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from foretell.cli import app
from foretell.planners.tasks import load_tasks

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_plan_json_and_resume(tmp_path):
    out = tmp_path / "run"
    result = _run("plan", "--task", "planbench-bw", "--planner", "expert", "--episodes", "1", "--out", str(out),
                  "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["success_rate"] == 1.0 and summary["episodes"] == 1
    assert {"steps", "llm", "verifier", "wall_s"} <= set(summary["per_episode"][0])
    again = _run("plan", "--task", "planbench-bw", "--planner", "expert", "--episodes", "2", "--out", str(out),
                 "--resume", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["episodes"] == 2
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2


def test_plan_stride_spreads_the_tasks():
    result = _run("plan", "--task", "planbench-bw", "--planner", "expert", "--episodes", "2", "--stride", "50",
                  "--json")
    assert result.exit_code == 0, result.output
    ids = [e["task_id"] for e in json.loads(result.stdout)["per_episode"]]
    every = [t.task_id for t in load_tasks("planbench-bw", "test")]
    assert ids == [every[0], every[50]]
    refused = _run("plan", "--task", "puzzles-v0", "--planner", "random", "--stride", "2")
    assert refused.exit_code == 2 and "--stride applies to" in refused.output


def test_bench_plan_writes_the_table(tmp_path):
    table = tmp_path / "table.md"
    result = _run("bench", "plan", "--task", "planbench-bw", "--planners", "blind,expert", "--episodes", "1",
                  "--table", str(table))
    assert result.exit_code == 0, result.output
    text = table.read_text()
    assert "| blind |" in text and "| expert | 100.0% |" in text


def test_bench_plan_on_ray(tmp_path):
    pytest.importorskip("ray")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = _run("bench", "plan", "--task", "planbench-bw", "--planners", "expert,random", "--episodes", "2",
                      "--backend", "ray", "--json")
    finally:
        ray.shutdown()
    assert result.exit_code == 0, result.output
    bench = json.loads(result.stdout)
    assert bench["planners"]["expert"]["success_rate"] == 1.0
    assert [r["task_id"] for r in bench["planners"]["random"]["per_episode"]] == \
        ["planbench-bw/instance-1", "planbench-bw/instance-2"]


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "--planner", "llm+wm", "--episodes", "1"], "needs --world-model"),
    (["plan", "--planner", "llm", "--llm", "replay", "--episodes", "1"], "--llm-replay"),
    (["plan", "--planner", "llm", "--llm", "openai", "--episodes", "1"], "--llm-url"),
    (["plan", "--split", "nope", "--planner", "expert"], "split"),
    (["bench", "plan", "--planners", "expert,gpt"], "unknown planner"),
    (["plan", "--planner", "draft-verify", "--episodes", "1"], "--large-llm"),
    (["plan", "--planner", "llm", "--large-llm", "local", "--episodes", "1"], "--large-llm goes with"),
    (["plan", "--planner", "draft-verify", "--large-llm", "openai", "--episodes", "1"], "--large-llm-url"),
    (["plan", "--planner", "expert", "--out", "/proc/nope/run"], "/proc/nope"),
    (["plan", "--task", "puzzles-v0", "--planner", "cem+wm", "--world-model", "/tmp", "--world-model", "/tmp"],
     "one --world-model"),
])
def test_plan_mistakes_are_one_line_errors(args, message, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and message in result.output
