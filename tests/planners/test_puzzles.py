"""The world-model puzzle agents (``planners.puzzles``, ``planners.puzzle_prompts``): the state an
action creates, the goal read-out on true attempts, CEM on a scripted scorer, LLM output checks, and
cem+wm / llm+cem end to end on an untrained tiny model (wiring, not quality)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from foretell.envs.puzzles.benchmark import auccess, family, task_rng, task_set
from foretell.planners.llm import Completion, LLMBackend
from foretell.planners.puzzle_prompts import (
    LLMProposer,
    action_json,
    action_schema,
    parse_action,
    puzzle_prompt,
)
from foretell.planners.puzzles import (
    PuzzleScene,
    PuzzleSolverConfig,
    WorldModelPuzzleAgent,
    attempt_score,
    cem_search,
    evaluate_world_model,
    judge_imagined,
    local_candidates,
    ranking_quality,
    run_puzzle_agent,
)
from foretell.worldmodel import ObjectDiffusionModel

TINY = PuzzleSolverConfig(population=6, elites=2, iterations=2, samples=2, sampling_steps=1, frames=8, refits=1,
                          llm_candidates=3)


class ScriptedLLM(LLMBackend):
    """Answers every prompt with the same completions (cycled to n)."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__("scripted")
        self.texts, self.prompts, self.schemas = texts, [], []

    def _complete(self, prompt, n, temperature, max_tokens, stop, json_schema, seed):
        self.prompts.append(prompt)
        self.schemas.append(json_schema)
        out = [self.texts[i % len(self.texts)] for i in range(n)]
        return Completion(out, len(prompt.split()), sum(len(t.split()) for t in out))


@pytest.fixture(scope="module")
def tiny_model() -> ObjectDiffusionModel:
    torch.manual_seed(0)
    return ObjectDiffusionModel(history=1, horizon=4, hidden_dim=16, num_layers=1, num_heads=2).eval()


def _task(name: str, split: str = "heldout"):
    return family(name), next(t for t in task_set(split, 1) if t.family == name)


@pytest.mark.parametrize("name", ["launch", "topple", "drop"])
def test_initial_state_is_the_attempts_first_frame_and_readout_agrees(name):
    fam, task = _task(name)
    solution = np.asarray(task.extra["solution"])
    outcome = fam.attempt(task, solution)
    scene = PuzzleScene.from_task(fam, task)
    np.testing.assert_allclose(scene.initial_states(solution[None])[0], outcome.states[0], atol=1e-9)
    success, progress, shortfall = judge_imagined(task, outcome.states[None])
    assert success.tolist() == [outcome.success] == [True]
    assert 0 < progress[0] <= 1 and shortfall.tolist() == [0.0]
    idle = fam.idle(task)
    success, _, shortfall = judge_imagined(task, idle.states[None])
    assert success.tolist() == [False] and 0 < shortfall[0] < 1  # short of the goal, but no forbidden touch


def test_cem_finds_the_optimum_of_a_scripted_scorer():
    optimum = np.array([0.3, -0.6, 0.8])
    calls = []

    def score(actions):
        calls.append(len(actions))
        return -np.square(actions - optimum).sum(axis=1)

    config = PuzzleSolverConfig(population=64, elites=8, iterations=6, min_std=0.01)
    archive = cem_search(score, 3, np.random.default_rng(0), config)
    assert calls == [64] * 6  # one batched call per iteration
    assert np.abs(archive.best() - optimum).max() < 0.05
    again = cem_search(score, 3, np.random.default_rng(0), config)
    np.testing.assert_array_equal(again.actions, archive.actions)


def test_cem_seeds_enter_the_first_population():
    seeds = np.array([[0.5, 0.5, 0.5], [-0.5, 0.0, 0.2]])
    seen = []
    cem_search(lambda a: seen.append(a.copy()) or np.zeros(len(a)), 3, np.random.default_rng(1),
               PuzzleSolverConfig(population=8, elites=2, iterations=1), seeds=seeds)
    np.testing.assert_array_equal(seen[0][:2], seeds)


@pytest.mark.parametrize("name", ["launch", "topple", "drop"])
def test_attempt_score_ranks_the_solution_above_the_idle_scene_and_a_near_miss_above_a_wild_one(name):
    fam, task = _task(name)
    solution = np.asarray(task.extra["solution"])
    solved = attempt_score(task, fam.attempt(task, solution).states)
    idle = attempt_score(task, fam.idle(task).states)
    assert solved > idle and solved > -0.01  # no shortfall: only the reach term, a few mm to cm
    # the red ball parked far from everything vs. a launch straight from the solution: the reach term orders
    # attempts that leave the target where it was
    states = fam.idle(task).states.copy()
    far = states.copy()
    far[:, 0, :3] += np.array([5.0, 5.0, 0.0])
    assert attempt_score(task, states) > attempt_score(task, far)


def test_local_candidates_are_drawn_around_the_best_real_attempt_and_skip_attempts_made():
    tried = np.array([[0.5, 0.5, 0.5], [-0.5, 0.0, 0.2]])
    config = PuzzleSolverConfig(local_population=200, local_std=0.1, local_radius=0.05)
    near = local_candidates(np.random.default_rng(0), tried, np.array([-0.3, -0.1]), config)
    assert 0 < len(near) <= 200 and np.abs(near).max() <= 1.0
    np.testing.assert_allclose(near.mean(axis=0), tried[1], atol=0.03)  # around the better one (score -0.1)
    assert np.abs(near[:, None] - tried[None]).max(axis=2).min() > 0.05
    again = local_candidates(np.random.default_rng(0), tried, np.array([-0.3, -0.1]), config)
    np.testing.assert_array_equal(near, again)


def test_random_local_alternates_random_and_local_attempts_and_is_reproducible():
    kwargs = dict(config=None, attempts=6, tasks_per_template=1, seed=0, templates=["launch_zone"])
    result = run_puzzle_agent("heldout", "random+local", **kwargs)
    row = result["results"][0]
    kinds, first = row["attempts_by_kind"], row["first_success_attempt"]
    made = first or 6
    assert kinds == {"model": 0, "local": made // 2, "random": made - made // 2}
    assert "model_calls" not in row and result["solver"]["local_every"] == 2
    again = run_puzzle_agent("heldout", "random+local", **kwargs)["results"][0]
    assert {**again, "seconds": 0} == {**row, "seconds": 0}
    with pytest.raises(ValueError, match="local_every >= 1"):
        run_puzzle_agent("heldout", "random+local", None, PuzzleSolverConfig(local_every=0))


def test_model_agents_make_local_attempts_only_when_asked_and_after_their_refits(tiny_model):
    fam, task = _task("launch")
    first, details = WorldModelPuzzleAgent(tiny_model, TINY).first_success(fam, task, task_rng(0, task), 3)
    assert details["attempts_by_kind"]["local"] == 0 and sum(details["attempts_by_kind"].values()) == (first or 3)
    config = PuzzleSolverConfig(**{**TINY.__dict__, "local_every": 2})  # TINY refits once, after attempt 1
    first, details = WorldModelPuzzleAgent(tiny_model, config).first_success(fam, task, task_rng(0, task), 3)
    if first is None or first > 2:
        assert details["attempts_by_kind"] == {"model": 2, "local": 1, "random": 0}  # attempt 2 was local


def test_parse_action_accepts_valid_and_rejects_bad_output_with_reasons():
    fam = family("launch")
    ok = parse_action('{"yaw_deg": 0, "elevation_deg": 30, "speed": 1.4}', fam)
    np.testing.assert_allclose(ok.action, [0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(parse_action(action_json(fam, np.array([0.5, -0.25, 1.0])), fam).action,
                               [0.5, -0.25, 1.0], atol=2e-3)
    bad = {
        "": "no JSON object",
        '{"yaw_deg": 0, "elevation_deg": 30': "not valid JSON",
        "[1, 2, 3]": "no JSON object",
        '{"yaw_deg": 0, "elevation_deg": 30}': "missing ['speed']",
        '{"yaw_deg": 0, "elevation_deg": 30, "speed": 1, "spin": 2}': "unknown ['spin']",
        '{"yaw_deg": 90, "elevation_deg": 30, "speed": 1}': "outside",
        '{"yaw_deg": "left", "elevation_deg": 30, "speed": 1}': "finite number",
        '{"yaw_deg": true, "elevation_deg": 30, "speed": 1}': "finite number",
        '{"yaw_deg": NaN, "elevation_deg": 30, "speed": 1}': "finite number",
    }
    for text, reason in bad.items():
        check = parse_action(text, fam)
        assert not check.ok and reason in check.reason, (text, check.reason)


def test_prompt_and_schema_name_the_puzzle_and_the_actions():
    fam, task = _task("topple")
    prompt = puzzle_prompt(fam, task)
    assert prompt.endswith("Answer:") and task.instruction in prompt and "Green zone" in prompt
    assert prompt.count("Answer: {") == 2  # two solved train puzzles as examples
    schema = action_schema(fam)
    assert schema["required"] == ["bearing_deg", "height", "speed"] and not schema["additionalProperties"]
    assert schema["properties"]["bearing_deg"]["minimum"] == -180.0


def test_cem_wm_end_to_end_on_a_tiny_model_is_a_valid_reproducible_auccess_record(tiny_model):
    kwargs = dict(config=TINY, attempts=3, tasks_per_template=1, seed=0, templates=["launch_zone"])
    result = evaluate_world_model("heldout", "cem+wm", tiny_model, **kwargs)
    assert result["agent"] == "cem+wm" and result["tasks"] == 1 and result["attempts"] == 3
    row = result["results"][0]
    first = row["first_success_attempt"]
    assert first is None or 1 <= first <= 3
    assert result["auccess"] == pytest.approx(auccess([first], 3))
    assert row["model_calls"] >= TINY.iterations and row["imagined_transitions"] > 0
    json.dumps(result)
    again = evaluate_world_model("heldout", "cem+wm", tiny_model, **kwargs)
    assert again["results"][0]["first_success_attempt"] == first
    assert again["results"][0]["best_imagined_p"] == row["best_imagined_p"]


def test_llm_cem_seeds_the_search_with_valid_proposals_and_reports_rejections(tiny_model):
    fam, task = _task("drop")
    solution = np.asarray(task.extra["solution"])
    llm = ScriptedLLM([action_json(fam, solution), "not json", '{"x": 1.0, "y": 0, "clearance": 0}'])
    agent = WorldModelPuzzleAgent(tiny_model, TINY, propose=LLMProposer(llm, TINY))
    first, details = agent.first_success(fam, task, task_rng(0, task), 2)
    assert details["llm_valid"] == 1 and len(details["llm_rejections"]) == 2
    assert "outside" in details["llm_rejections"][1]
    assert llm.schemas[0] == action_schema(fam)
    assert first in (None, 1, 2)


def test_agents_are_checked():
    with pytest.raises(ValueError, match="world-model agents"):
        evaluate_world_model("heldout", "random", None)
    with pytest.raises(ValueError, match="needs"):
        evaluate_world_model("heldout", "llm+cem", None)
    with pytest.raises(ValueError, match="elites"):
        PuzzleSolverConfig(population=4, elites=5)
    with pytest.raises(ValueError, match="score must be one of"):
        PuzzleSolverConfig(score="distance")
    with pytest.raises(ValueError, match="local_every must be >= 0"):
        PuzzleSolverConfig(local_every=-1)
    with pytest.raises(ValueError, match="local_std must be in"):
        PuzzleSolverConfig(local_std=0.0)


def test_eval_puzzles_cli_runs_cem_wm_on_a_saved_model(tiny_model, tmp_path):
    from typer.testing import CliRunner

    from foretell.cli import app

    tiny_model.save_pretrained(tmp_path / "wm")
    args = ["eval", "puzzles", "--split", "heldout", "--agent", "cem+wm", "--world-model", str(tmp_path / "wm"),
            "--template", "drop_dominoes", "--tasks-per-template", "1", "--attempts", "2", "--population", "4",
            "--iterations", "1", "--samples", "1", "--frames", "8", "--score", "p", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout[result.stdout.index("{"):])
    assert out["agent"] == "cem+wm" and out["templates"] == ["drop_dominoes"] and out["tasks"] == 1
    assert out["solver"]["score"] == "p"
    missing = CliRunner().invoke(app, ["eval", "puzzles", "--agent", "cem+wm"])
    assert missing.exit_code == 2 and "needs --world-model" in missing.output
    off = CliRunner().invoke(app, ["eval", "puzzles", "--agent", "random+local", "--local-every", "0"])
    assert off.exit_code == 2 and "local_every >= 1" in off.output


def test_plan_cli_runs_puzzles_through_the_benchmark_harness(tiny_model, tmp_path, monkeypatch):
    """``foretell plan --task puzzles-v0``: test split -> heldout, llm+wm -> the llm+cem agent, a summary
    written atomically; stack-physics-only options and other planners are refused in one line."""
    from typer.testing import CliRunner

    import foretell.planners.puzzles as puzzles
    from foretell.cli import app

    calls = []

    def fake_harness(split, agent, model, config, attempts=100, tasks_per_template=None, seed=0, llm=None,
                     templates=None, progress=None):
        calls.append((split, agent, model is not None, tasks_per_template, llm is not None))
        return {"benchmark": "puzzles-v0", "split": split, "agent": agent, "attempts": attempts, "tasks": 1,
                "auccess": 0.5, "first_attempt_success": 0.0, "solved": 1.0, "per_template": {}}

    monkeypatch.setattr(puzzles, "run_puzzle_agent", fake_harness)
    tiny_model.save_pretrained(tmp_path / "wm")
    result = CliRunner().invoke(app, ["plan", "--task", "puzzles-v0", "--planner", "cem+wm", "--world-model",
                                      str(tmp_path / "wm"), "--episodes", "1", "--out", str(tmp_path / "run"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert calls == [("heldout", "cem+wm", True, 1, False)]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["auccess"] == 0.5
    for args, message in [(["--planner", "llm+sim"], "puzzles-v0 runs the planners"),
                          (["--planner", "cem+wm"], "needs --world-model"),
                          (["--planner", "random", "--resume"], "--resume and --video apply")]:
        bad = CliRunner().invoke(app, ["plan", "--task", "puzzles-v0", *args])
        assert bad.exit_code != 0 and message in bad.output, bad.output


def test_ranking_quality_scores_uniform_actions_against_the_simulator(tiny_model, tmp_path):
    """``eval puzzle-ranking``: per task, uniform actions attempted for real and scored by the model."""
    from typer.testing import CliRunner

    from foretell.cli import app

    config = PuzzleSolverConfig(population=4, elites=2, samples=2, sampling_steps=1, frames=8)
    result = ranking_quality("heldout", tiny_model, config, candidates=10, tasks_per_template=2,
                             templates=["topple_dominoes"])
    assert result["n"] == 2 and len(result["results"]) == 2
    for row in result["results"]:
        assert 0 <= row["success_rate"] <= 1 and 0 <= row["imagined_p"] <= 1
        assert row["auroc"] != row["auroc"] or 0 <= row["auroc"] <= 1  # nan where one outcome only
    scored = [r["auroc"] for r in result["results"] if r["auroc"] == r["auroc"]]
    assert result["tasks_with_auroc"] == len(scored)
    again = ranking_quality("heldout", tiny_model, config, candidates=10, tasks_per_template=2,
                            templates=["topple_dominoes"])
    assert json.dumps(again) == json.dumps(result)  # seeded: the same actions, verdicts and scores
    with pytest.raises(ValueError, match="candidates"):
        ranking_quality("heldout", tiny_model, config, candidates=1)
    with pytest.raises(ValueError, match="not in split heldout"):
        ranking_quality("heldout", tiny_model, config, templates=["drop_ramp"])
    tiny_model.save_pretrained(tmp_path / "wm")
    cli = CliRunner().invoke(app, ["eval", "puzzle-ranking", "--world-model", str(tmp_path / "wm"), "--split",
                                   "heldout", "--template", "drop_dominoes", "--tasks-per-template", "1",
                                   "--candidates", "4", "--samples", "1", "--json"])
    assert cli.exit_code == 0, cli.output
    out = json.loads(cli.stdout[cli.stdout.index("{"):])
    assert out["diagnostic"] == "ranking" and out["n"] == 1 and out["candidates"] == 4
