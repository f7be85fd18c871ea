"""The placement-noise replay diagnostic (``foretell eval plans``): the repeat rule, the report, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from foretell.planners.loop import Planner, PlannerConfig
from foretell.planners.robustness import plan_robustness, replay
from foretell.planners.tasks import load_tasks

from .test_loop import ScriptedLLM, _optimal_actions, _plan_text


def test_replay_reaches_a_goal_and_repeats_a_placement_that_did_not_stay(planbench_task):
    """Equal cubes: the shortest plan reaches the goal under any noise seed, with no repeat. A cube
    put on a ball rolls off: it is made again, at most ``max_repeats`` times, then the replay stops."""
    plan = _optimal_actions(planbench_task)
    assert replay(planbench_task, plan, planbench_task.seed, 3, wait=5.0, aim=True) == (True, 0)
    assert replay(planbench_task, plan, 10_001, 0, wait=5.0, aim=True) == (True, 0)
    task = next(t for t in load_tasks("stack-physics-v0", "val") if t.feasible and t.meta["balls"] == 1)
    shapes = {o["name"]: o["shape"] for o in task.options["objects"]}
    ball = next(n for n, s in shapes.items() if s == "ball")
    cube = next(n for n, s in shapes.items() if s in ("cube", "cylinder"))
    onto_ball = [{"skill": "pick_place", "object": cube, "target": ball, "dx": 0.0, "dy": 0.0}]
    assert replay(task, onto_ball, task.seed, 0, wait=0.0, aim=False) == (False, 0)
    assert replay(task, onto_ball, task.seed, 2, wait=0.0, aim=False) == (False, 2)


def _planner(kind, task, model):
    llm = ScriptedLLM([_plan_text(_optimal_actions(task))]) if kind == "llm+wm" else None
    return Planner(PlannerConfig(planner=kind, candidates=2, samples=2, sampling_steps=1), llm, model)


@pytest.mark.parametrize("kind", ["cem+wm", "llm+wm"])
def test_plan_robustness_reports_the_first_plan_and_the_candidates(kind, planbench_task, tiny_skill_model):
    """The wiring, on an untrained model: every rate is a share of the replays, more repeats never
    lower the chosen plan's rate, the sturdiest candidate bounds every ranking rule, and the
    planner gets its own verifier back."""
    planner = _planner(kind, planbench_task, tiny_skill_model)
    verifier = planner.verifier
    result = plan_robustness(planner, [planbench_task], noise_seeds=2, candidates=2, repeats=(2, 0), rescore_samples=2)
    assert planner.verifier is verifier
    (row,) = result["tasks"]
    assert row["task_id"] == planbench_task.task_id and len(row["chosen"]["runs"]) == 2
    assert 1 <= len(row["candidates"]) <= 3 and sum(c["chosen"] for c in row["candidates"]) <= 1
    assert all(c["goal_rate"] in (0.0, 0.5, 1.0) and 0.0 <= c["p_rescored"] <= 1.0 for c in row["candidates"])
    assert list(result["chosen"]) == ["repeats<=0", "repeats<=2"]
    assert result["chosen"]["repeats<=0"] <= result["chosen"]["repeats<=2"]
    rules = result["rules"]
    assert max(rules["search samples"], rules["rescored samples"], rules["mean candidate"]) <= rules["sturdiest (oracle)"]
    assert np.isclose(rules["mean candidate"], np.mean([c["goal_rate"] for c in row["candidates"]]))
    assert result["settings"]["planner"] == kind and result["settings"]["noise_seeds"] == 2


@pytest.mark.parametrize("kwargs, match", [({"repeats": ()}, "repeats"), ({"repeats": (-1,)}, "repeats"),
                                           ({"noise_seeds": 0}, "noise_seeds"), ({"candidates": -1}, "candidates")])
def test_plan_robustness_rejects_bad_settings(kwargs, match, planbench_task, tiny_skill_model):
    with pytest.raises(ValueError, match=match):
        plan_robustness(_planner("cem+wm", planbench_task, tiny_skill_model), [planbench_task], **kwargs)
    with pytest.raises(ValueError, match="cem\\+wm or llm\\+wm"):
        plan_robustness(Planner(PlannerConfig(planner="random")), [planbench_task])
