"""The arrangement probe: which object stays on which, the arrangements a goal needs, and when the
search may declare a goal infeasible."""

from __future__ import annotations

import numpy as np
import pytest

from foretell.envs import Goal, Predicate
from foretell.planners.arrange import DECLARE_BELOW, arrangements, plan_arrangements, probe_layout
from foretell.planners.search import cem_plan
from foretell.planners.tasks import load_tasks, make_env, symbolic_state
from foretell.planners.verify import Scores, SimulatorVerifier, VerifierStats


def _goal(*preds: str) -> Goal:
    return Goal(tuple(Predicate.parse(p) for p in preds), "custom")


def test_arrangements_put_the_ball_on_top_and_refuse_what_nothing_supports():
    names = ["cube", "plate", "ball"]
    support = np.array([[0, 1, 0], [1, 0, 0], [1, 1, 0]], dtype=float)  # support[o, t]: o stays on t
    tower = arrangements(_goal("tower_height(3)"), names, support)
    assert tower[0].weakest == 1.0 and tower[0].on[-1][0] == "ball"  # the ball goes on top
    assert all(a.weakest == 0.0 for a in tower[2:])  # every other order puts something on the ball
    assert arrangements(_goal("on(cube, ball)"), names, support)[0].weakest == 0.0
    assert arrangements(_goal("tower_height(4)"), names, support) == []
    assert arrangements(_goal("clear(cube)"), names, support) is None  # not a form it handles


def test_probe_layout_stands_every_object_alone_on_the_table():
    task = load_tasks("stack-physics-v0", "test", limit=1)[0]
    env, *_ = make_env(task)
    try:
        objects = env.unwrapped.objects
    finally:
        env.close()
    pos = probe_layout(objects)
    assert np.allclose(pos[:, 2], [o.half_height + 1e-3 for o in objects])
    gaps = [np.linalg.norm(pos[i, :2] - pos[j, :2]) - objects[i].radius_xy - objects[j].radius_xy
            for i in range(len(objects)) for j in range(i)]
    assert min(gaps) > 0


def test_the_simulator_probe_finds_feasible_towers_and_restores_the_scene():
    task = next(t for t in load_tasks("stack-physics-v0", "val") if t.feasible and t.meta["balls"] == 1)
    env, *_ = make_env(task)
    try:
        before = symbolic_state(env), env.unwrapped.elapsed_steps
        evidence, plans, _ = plan_arrangements(env, SimulatorVerifier(), env.unwrapped.goal)
        assert (symbolic_state(env), env.unwrapped.elapsed_steps) == before
        assert evidence >= DECLARE_BELOW and plans
        ball = next(o.name for o in env.unwrapped.objects if o.shape == "ball")
        cube = next((o.name for o in env.unwrapped.objects if o.shape == "cube"), None)
        if cube is not None:
            evidence, plans, _ = plan_arrangements(env, SimulatorVerifier(), _goal(f"on({cube}, {ball})"))
            assert evidence < DECLARE_BELOW and plans == []
    finally:
        env.close()


class _Stubborn:
    """A verifier that believes no plan succeeds (and, unless ``progressing``, that none makes
    progress); its probe says ``support``."""

    def __init__(self, support: float, progressing: bool = False) -> None:
        self.support, self.progressing, self.stats = support, progressing, VerifierStats()

    def score(self, env, plans, goal, cappers=()):
        progress = np.array([0.5 if plan and self.progressing else 0.0 for plan in plans])
        return Scores(np.zeros(len(plans)), [""] * len(plans), progress=progress)

    def probe(self, env, builds):
        return np.full(len(builds), self.support)


@pytest.mark.parametrize("support", [1.0, 0.2])
def test_search_declares_only_on_the_probes_evidence(support):
    task = next(t for t in load_tasks("stack-physics-v0", "test") if t.feasible)
    env, *_ = make_env(task)
    try:
        plan, _ = cem_plan(env, _Stubborn(support), np.random.default_rng(0), population=4, iterations=1)
        ablation, _ = cem_plan(env, _Stubborn(support), np.random.default_rng(0), population=4, iterations=1,
                               arrange=False)
    finally:
        env.close()
    assert ablation == [{"skill": "declare_infeasible"}]
    if support < DECLARE_BELOW:
        assert plan == [{"skill": "declare_infeasible"}]
    else:  # the move plan to an arrangement of every object, built bottom up
        assert plan and all(a["skill"] == "pick_place" for a in plan)


@pytest.mark.parametrize("support", [1.0, 0.2])
def test_progress_that_cannot_reach_the_goal_is_not_pursued(support):
    """Plans that make progress but none that succeeds: the probe's evidence decides."""
    task = next(t for t in load_tasks("stack-physics-v0", "test") if t.feasible)
    env, *_ = make_env(task)
    try:
        plan, _ = cem_plan(env, _Stubborn(support, progressing=True), np.random.default_rng(0), population=4,
                           iterations=1)
    finally:
        env.close()
    assert (plan == [{"skill": "declare_infeasible"}]) == (support < DECLARE_BELOW)
