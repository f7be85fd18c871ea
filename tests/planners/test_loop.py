"""The planner loop with a scripted LLM (a unit-test fake for parsing and control flow), the real
simulator as verifier, and an untrained tiny world model for the wiring of the world-model variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

from foretell.planners import planbench
from foretell.planners.bench import plan_run
from foretell.planners.llm import Completion, LLMBackend
from foretell.planners.loop import Planner, PlannerConfig, step_and_wait, summarise
from foretell.planners.search import cem_plan
from foretell.planners.tasks import load_tasks, make_env, moves_to_actions, symbolic_state, task_by_id
from foretell.planners.verify import Scores, SimulatorVerifier, VerifierStats


class ScriptedLLM(LLMBackend):
    """Answers every prompt with the same list of completions (cycled to n), keeping the prompts."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__("scripted")
        self.texts, self.prompts = texts, []

    def _complete(self, prompt, n, temperature, max_tokens, stop, json_schema, seed):
        self.prompts.append(prompt)
        out = [self.texts[i % len(self.texts)] for i in range(n)]
        return Completion(out, len(prompt.split()), sum(len(t.split()) for t in out))


def _plan_text(actions: list[dict]) -> str:
    return json.dumps({"plan": actions})


def _optimal_actions(task) -> list[dict]:
    """A shortest goal-reaching plan for a planbench task, as pick_place actions."""
    problem = planbench.load_problem(task.meta["instance"])
    env, *_ = make_env(task)
    try:
        name = task.meta["blocks"]
        moves = planbench.optimal_moves(problem.below, problem.goal)
        return moves_to_actions(env, [(name[b], "table" if d == "table" else name[d]) for b, d in moves])
    finally:
        env.close()


def test_llm_sim_picks_the_plan_the_simulator_verifies(planbench_task):
    good = _optimal_actions(planbench_task)
    names = [o["name"] for o in planbench_task.options["objects"]]
    bad = [{"skill": "pick_place", "object": names[0], "target": "table"}]
    llm = ScriptedLLM([_plan_text(bad), "not json at all", _plan_text(good)])
    result = Planner(PlannerConfig(planner="llm+sim", candidates=3, rounds=1), llm).run(planbench_task)
    assert result.success
    assert result.decisions[0].valid == 2 and result.decisions[0].proposals == 3
    assert result.decisions[0].best_p == 1.0
    assert result.llm["calls"] == 1 and result.verifier["plans"] == 2


def test_llm_without_verifier_takes_the_most_frequent_plan(planbench_task):
    good = _optimal_actions(planbench_task)
    names = [o["name"] for o in planbench_task.options["objects"]]
    bad = [{"skill": "pick_place", "object": names[0], "target": "table"}]
    llm = ScriptedLLM([_plan_text(bad), _plan_text(bad), _plan_text(good)])
    result = Planner(PlannerConfig(planner="llm", candidates=3, max_decisions=1), llm).run(planbench_task)
    assert result.actions[0].startswith(f"pick_place({names[0]}, table")
    assert not result.success


def test_rejections_are_fed_back_to_the_llm(planbench_task):
    llm = ScriptedLLM(['{"plan": [{"skill": "pick_place", "object": "purple_unicorn", "target": "table"}]}'])
    result = Planner(PlannerConfig(planner="llm+sim", candidates=2, rounds=2, max_decisions=1, search=False),
                     llm).run(planbench_task)
    assert result.steps == 0 and not result.success
    assert "purple_unicorn" in llm.prompts[1]  # round 2 was told why round 1 was rejected


def test_search_finishes_what_the_llm_starts(planbench_task):
    """The LLM proposes only the first step of the goal plan; the verifier-side search, seeded with
    it, finds the whole plan (a scripted verifier that knows the goal plan stands in for the world model)."""
    good = _optimal_actions(planbench_task)
    wanted = [(a["object"], a["target"]) for a in good]

    class Knows:
        def __init__(self):
            self.stats = VerifierStats()

        def score(self, env, plans, goal, cappers=()):
            steps = [[(a.get("object"), a.get("target")) for a in plan] for plan in plans]
            shared = [sum(x == y for x, y in zip(s, wanted, strict=False)) for s in steps]
            return Scores(np.array([float(s == wanted) for s in steps]), [""] * len(plans),
                          progress=np.array(shared) / len(wanted))

    llm = ScriptedLLM([_plan_text(good[:1])])
    results = {}
    for search in (True, False):
        planner = Planner(PlannerConfig(planner="llm+sim", candidates=2, rounds=1, max_decisions=1, search=search,
                                        arrange=False), llm)
        planner.verifier = Knows()
        results[search] = planner.run(planbench_task)
    assert results[True].success and results[True].decisions[0].searched
    assert results[True].decisions[0].best_p == 1.0
    assert not results[False].success and results[False].steps == 1


def test_cem_finds_the_plan_a_verifier_prefers(planbench_task):
    """CEM over skill sequences, against a verifier that rewards one two-step plan and partly its first step."""
    names = [o["name"] for o in planbench_task.options["objects"]]
    wanted = [(names[1], names[0]), (names[2], names[1])]

    class Prefers:
        def score(self, env, plans, goal, cappers=()):
            def p(plan):
                steps = [(a["object"], a["target"]) for a in plan]
                return 1.0 if steps == wanted else 0.5 if steps[:1] == wanted[:1] else 0.0
            return Scores(np.array([p(plan) for plan in plans]), [""] * len(plans))

    env, *_ = make_env(planbench_task)
    try:
        plan, p = cem_plan(env, Prefers(), np.random.default_rng(0), max_len=2, population=256, iterations=4,
                           arrange=False)
        never = type("Never", (), {"score": lambda self, e, plans, g, cappers=(): Scores(
            np.zeros(len(plans)), [""] * len(plans), progress=np.full(len(plans), 0.5))})()
        none, p_none = cem_plan(env, never, np.random.default_rng(0), max_len=2, population=8, arrange=False)
    finally:
        env.close()
    assert p == 1.0 and [(a["object"], a["target"]) for a in plan] == wanted
    assert none == [{"skill": "declare_infeasible"}] and p_none == 0.0


def test_cem_starts_from_seed_plans(planbench_task):
    """A three-step plan a tiny unseeded search cannot find is kept when it is given as a seed."""
    names = [o["name"] for o in planbench_task.options["objects"]]
    wanted = [(names[1], names[0]), (names[2], names[1]), (names[3], names[2])]

    class Exact:
        def score(self, env, plans, goal, cappers=()):
            return Scores(np.array([float([(a.get("object"), a.get("target")) for a in plan] == wanted) for plan in plans]),
                          [""] * len(plans))

    seed = [{"skill": "pick_place", "object": o, "target": t} for o, t in wanted]
    env, *_ = make_env(planbench_task)
    try:
        plan, p = cem_plan(env, Exact(), np.random.default_rng(0), max_len=3, population=2, iterations=1,
                           seeds=[seed, [{"skill": "declare_infeasible"}]], arrange=False)
        alone, p_alone = cem_plan(env, Exact(), np.random.default_rng(0), max_len=3, population=2, iterations=1,
                                  arrange=False)
    finally:
        env.close()
    assert p == 1.0 and [(a["object"], a["target"]) for a in plan] == wanted
    assert p_alone == 0.0


@pytest.mark.parametrize("planner", ["random", "blind", "expert"])
def test_baselines_run_and_are_reproducible(planner, planbench_task):
    a = Planner(PlannerConfig(planner=planner, seed=3)).run(planbench_task)
    b = Planner(PlannerConfig(planner=planner, seed=3)).run(planbench_task)
    assert a.actions == b.actions and a.success == b.success and a.steps >= 1
    if planner == "expert":
        assert a.success


def test_the_planner_executes_placements_aimed_at_the_piles_axis_unless_told_not_to():
    """``PlannerConfig.aim``: the blind planner's tower on val/013 (placements onto piles) is
    executed with offsets towards the pile's axis, recorded in ``actions``; ``aim=False`` places on
    the targets' centres, the rule before."""
    task = task_by_id("stack-physics-v0/val/013")
    aimed = Planner(PlannerConfig(planner="blind", seed=0)).run(task)
    plain = Planner(PlannerConfig(planner="blind", seed=0, aim=False)).run(task)
    onto_piles = [a for a in aimed.actions[1:] if ", table" not in a]  # the first lands on an object on the table
    assert onto_piles and all(", dx=" in a for a in onto_piles)
    assert not any(", dx=" in a for a in plain.actions if ", table" not in a)
    def what_where(actions):
        return [a.split(", dx=")[0].rstrip(")") for a in actions[:2]]
    assert what_where(aimed.actions) == what_where(plain.actions)  # the same plan, only aimed


def test_planner_config_and_missing_parts_are_refused():
    with pytest.raises(ValueError, match="unknown planner"):
        PlannerConfig(planner="gpt")
    with pytest.raises(ValueError, match="candidates must be >= 1"):
        PlannerConfig(candidates=0)
    with pytest.raises(ValueError, match="needs an LLM"):
        Planner(PlannerConfig(planner="llm"))
    with pytest.raises(ValueError, match="needs a world model"):
        Planner(PlannerConfig(planner="cem+wm"))
    with pytest.raises(ValueError, match="needs a larger LLM backend"):
        Planner(PlannerConfig(planner="draft-verify"), ScriptedLLM(["{}"]), object())
    with pytest.raises(ValueError, match="used by planner 'draft-verify' only"):
        Planner(PlannerConfig(planner="llm"), ScriptedLLM(["{}"]), None, ScriptedLLM(["{}"]))
    with pytest.raises(ValueError, match="retries must be >= 0"):
        PlannerConfig(retries=-1)
    with pytest.raises(ValueError, match=r"wait must be in \[0, 10\] seconds"):
        PlannerConfig(wait=10.5)
    with pytest.raises(ValueError, match="draft-verify needs rounds >= 2"):
        PlannerConfig(planner="draft-verify", rounds=1)


def test_rounds_default_to_one_and_two_for_draft_verify():
    assert PlannerConfig().rounds == 1
    assert PlannerConfig(planner="llm").rounds == 1
    assert PlannerConfig(planner="draft-verify").rounds == 2
    assert PlannerConfig(planner="llm+wm", rounds=3).rounds == 3


def test_plan_run_writes_records_and_resumes(tmp_path):
    tasks = load_tasks("planbench-bw", "test", limit=2)
    config = PlannerConfig(planner="expert")
    first = plan_run(tasks[:1], config, out=tmp_path / "run")
    assert first["episodes"] == 1 and first["success_rate"] == 1.0
    with pytest.raises(ValueError, match="--resume"):
        plan_run(tasks, config, out=tmp_path / "run")
    resumed = plan_run(tasks, config, out=tmp_path / "run", resume=True)
    lines = (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 2 and resumed["episodes"] == 2
    assert resumed["per_episode"][0] == first["per_episode"][0]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["episodes"] == 2
    assert summarise([])["episodes"] == 0
    with pytest.raises(ValueError, match="other world models"):  # a resumed run keeps its verifier
        plan_run(tasks, config, world_model=[tmp_path / "a", tmp_path / "b"], out=tmp_path / "run", resume=True)
    with pytest.raises(ValueError, match="other planner settings"):
        plan_run(tasks, PlannerConfig(planner="random"), out=tmp_path / "run", resume=True)


@pytest.mark.parametrize("variant", ["llm+wm", "cem+wm"])
def test_world_model_variants_run_end_to_end(variant, tiny_skill_model, planbench_task):
    """The wiring only (an untrained model predicts nothing useful): candidates are imagined in one
    batched call per round and the chosen plan is executed."""
    good = _optimal_actions(planbench_task)
    llm = ScriptedLLM([_plan_text(good), _plan_text(good[:1])]) if variant == "llm+wm" else None
    config = PlannerConfig(planner=variant, candidates=2, rounds=1, samples=2, sampling_steps=1, max_decisions=1)
    result = Planner(config, llm, tiny_skill_model).run(planbench_task)
    assert result.verifier["calls"] >= 1 and result.verifier["transitions"] > 0
    assert result.steps >= 1 and result.decisions[0].best_p is not None
    with pytest.raises(ValueError, match="skill model"):
        from foretell.worldmodel import ObjectDiffusionModel

        Planner(PlannerConfig(planner="cem+wm"), None, ObjectDiffusionModel(hidden_dim=32, num_layers=1, num_heads=2))


def test_an_ensemble_verifies_with_every_members_futures(tiny_skill_model, planbench_task, tmp_path):
    """Two runs make one ``ModelEnsemble`` (``build_planner``); the verifier imagines S futures per
    member, and the episode runs as with one model."""
    from foretell.planners.bench import build_planner
    from foretell.worldmodel import ModelEnsemble

    for name in ("a", "b"):
        tiny_skill_model.save_pretrained(tmp_path / name)
    config = PlannerConfig(planner="cem+wm", samples=2, sampling_steps=1, max_decisions=1)
    planner = build_planner(config, None, [tmp_path / "a", tmp_path / "b"])
    assert isinstance(planner.verifier.model, ModelEnsemble) and planner.verifier.futures == 4
    result = planner.run(planbench_task)
    assert result.steps >= 1 and result.verifier["transitions"] > 0 and result.verifier["transitions"] % 4 == 0
    single = build_planner(config, None, tmp_path / "a")
    assert single.verifier.futures == 2 and not isinstance(single.verifier.model, ModelEnsemble)


@pytest.mark.parametrize("draft_good", [True, False])
def test_draft_verify_asks_the_large_llm_only_when_no_draft_verifies(draft_good, tiny_skill_model, planbench_task):
    """The small LLM drafts; the verifier checks the drafts; the larger backend is asked (told why the
    drafts failed) only when none verifies, and its tokens are accounted apart. The simulator stands
    in for the world model here, so that "verifies" is known."""
    good = _optimal_actions(planbench_task)
    names = [o["name"] for o in planbench_task.options["objects"]]
    bad = [{"skill": "pick_place", "object": names[0], "target": "table"}]
    small, large = ScriptedLLM([_plan_text(good if draft_good else bad)]), ScriptedLLM([_plan_text(good)])
    config = PlannerConfig(planner="draft-verify", candidates=2, rounds=2, max_decisions=1, search=False)
    planner = Planner(config, small, tiny_skill_model, large)
    planner.verifier = SimulatorVerifier()
    result = planner.run(planbench_task)
    assert result.success and result.llm["calls"] == 1
    assert result.large_llm.get("calls", 0) == (0 if draft_good else 1)
    if not draft_good:
        assert result.large_llm["completion_tokens"] > 0 and len(large.prompts) == 1
        why = "the plan ends before the goal holds"  # the drafts' imagined failure, in words
        assert why in large.prompts[0] and why not in small.prompts[0]
    summary = summarise([result])
    assert summary["large_llm_completion_tokens"] == result.large_llm.get("completion_tokens", 0)


def test_the_video_shows_what_was_imagined_beside_what_happened(tiny_skill_model, planbench_task):
    """With a world model, each executed step's real frames sit beside the imagined scene after that
    step; recording the video changes nothing about how the episode is planned."""
    good = _optimal_actions(planbench_task)
    config = PlannerConfig(planner="llm+wm", candidates=1, rounds=1, samples=2, sampling_steps=1, max_decisions=1,
                           accept=0.0)
    plain = Planner(config, ScriptedLLM([_plan_text(good)]), tiny_skill_model).run(planbench_task)
    frames = []
    filmed = Planner(config, ScriptedLLM([_plan_text(good)]), tiny_skill_model).run(planbench_task, frames)
    assert filmed.actions == plain.actions and filmed.decisions[0].best_p == plain.decisions[0].best_p
    assert frames and all(f.shape[1] == 2 * f.shape[0] for f in frames)  # real | imagined
    assert not np.array_equal(frames[0][:, : frames[0].shape[0]], frames[-1][:, : frames[0].shape[0]])  # it moves
    bare = []
    Planner(PlannerConfig(planner="expert"), None).run(planbench_task, bare)
    assert bare and bare[0].shape[0] == bare[0].shape[1]  # no world model: the real frames alone


def test_an_episode_does_not_depend_on_the_episodes_before_it(tiny_skill_model, monkeypatch):
    """The world model's noise is reseeded per episode (from the seed and the task's seed), so a
    task imagines the same futures alone, after another task, or in another Ray chunk."""
    import torch

    from foretell.planners.verify import WorldModelVerifier

    first, second = load_tasks("planbench-bw", "test", limit=2)
    verifier = WorldModelVerifier(tiny_skill_model, num_samples=4, num_steps=1, seed=0)
    env, *_ = make_env(second)
    try:
        verifier.start_episode(second.seed)
        fresh = verifier._generator.get_state()  # the state every draw of the episode follows from
        verifier.score(env, [_optimal_actions(second)], env.unwrapped.goal)
        moved = verifier._generator.get_state()
        verifier.start_episode(second.seed)
        again = verifier._generator.get_state()
        verifier.start_episode(first.seed)
        other = verifier._generator.get_state()
    finally:
        env.close()
    assert torch.equal(fresh, again) and not torch.equal(fresh, moved) and not torch.equal(fresh, other)
    keys = []
    monkeypatch.setattr(WorldModelVerifier, "start_episode", lambda self, key: keys.append(key))
    planner = Planner(PlannerConfig(planner="cem+wm", samples=2, sampling_steps=1, max_decisions=1), None,
                      tiny_skill_model)
    planner.run(first)
    planner.run(second)
    assert keys == [first.seed, second.seed]


def test_goal_progress_grades_partial_towers():
    from foretell.envs import Goal, Predicate
    from foretell.planners.verify import goal_progress

    names = ["a", "b", "c"]
    on = np.zeros((2, 3, 3), dtype=bool)
    on[0, 1, 0] = True  # scene 0: b on a (a 2-tower); scene 1: all on the table
    on_table = np.array([[True, False, True], [True, True, True]])
    goal = Goal((Predicate("tower_height", (3,)), Predicate("on", ("b", "a"))), "custom")
    np.testing.assert_allclose(goal_progress(goal, names, on, on_table), [(2 / 3 + 1) / 2, (1 / 3 + 0) / 2])


def test_goal_progress_counts_a_tower_capped_too_early_as_a_dead_end():
    from foretell.envs import Goal, Predicate
    from foretell.planners.verify import goal_progress

    names = ["a", "b", "c", "ball", "d"]
    on = np.zeros((3, 5, 5), dtype=bool)
    on[:, 1, 0] = on[:, 2, 1] = True  # every scene: c on b on a
    on[0, 3, 2] = True  # scene 0: the ball on top, a 4-tower of the goal's 5
    on[1, 4, 2] = True  # scene 1: d on top instead, a 4-tower
    on[2, 4, 2] = on[2, 3, 4] = True  # scene 2: d, then the ball: the whole 5-tower
    on_table = np.zeros((3, 5), dtype=bool)
    on_table[:, 0] = True
    on_table[0, 4] = on_table[1, 3] = True
    goal = Goal((Predicate("tower_height", (5,)),), "custom")
    np.testing.assert_allclose(goal_progress(goal, names, on, on_table), [4 / 5, 4 / 5, 1.0])
    # a capped 4-tower needs the ball off and two placements: as far from done as a 2-tower
    np.testing.assert_allclose(goal_progress(goal, names, on, on_table, {"ball"}), [2 / 5, 4 / 5, 1.0])


@pytest.mark.parametrize("retries", [1, PlannerConfig().retries])
def test_a_failed_placement_is_remembered_and_not_tried_again(retries):
    """Execution answers where a verifier (or the LLM) was wrong: a cube put on a ball does not stay;
    it is tried ``retries`` more times, then the LLM is told, and the same placement is refused while
    the ball rests where it did."""
    task = next(t for t in load_tasks("stack-physics-v0", "test") if t.feasible
                and any(o["shape"] == "ball" for o in t.options["objects"]))
    objects = task.options["objects"]
    ball = next(o["name"] for o in objects if o["shape"] == "ball")
    cube = next(o["name"] for o in objects if o["shape"] == "cube")
    llm = ScriptedLLM([_plan_text([{"skill": "pick_place", "object": cube, "target": ball}])])
    result = Planner(PlannerConfig(planner="llm", candidates=2, rounds=1, max_decisions=6, retries=retries),
                     llm).run(task)
    assert result.actions == [f"pick_place({cube}, {ball})"] * (retries + 1)
    assert not result.success and len(result.decisions) == retries + 2 and result.decisions[-1].plan == []
    assert f"{cube} on {ball} was tried and did not stay" in result.decisions[-1].feedback[0]
    assert "(it did not stay)" in llm.prompts[-1]


def test_a_plan_that_breaks_blocksworld_preconditions_is_rejected_with_the_reason(planbench_task):
    """Moving a covered object is what a plan validator rejects; the reason goes back to the LLM."""
    env, *_ = make_env(planbench_task)
    try:
        below = symbolic_state(env)
    finally:
        env.close()
    covered, above = next((under, o) for o, under in below.items() if under is not None)
    llm = ScriptedLLM([_plan_text([{"skill": "pick_place", "object": covered, "target": "table"}])])
    result = Planner(PlannerConfig(planner="llm", candidates=2, rounds=2, max_decisions=1), llm).run(planbench_task)
    assert result.steps == 0 and result.decisions[0].valid == 0
    assert f"{covered} has {above} on it: move {above} first" in llm.prompts[1]
    assert f"{covered} has {above} on it" in result.decisions[0].feedback[0]


def test_the_unexecuted_rest_of_a_plan_seeds_the_next_search(tiny_skill_model, monkeypatch):
    """Receding-horizon warm start: when a step fails, the steps not executed are the next search's seed."""
    import foretell.planners.loop as loop

    task = next(t for t in load_tasks("stack-physics-v0", "test") if t.feasible
                and any(o["shape"] == "ball" for o in t.options["objects"]))
    objects = task.options["objects"]
    ball = next(o["name"] for o in objects if o["shape"] == "ball")
    cube, other = [o["name"] for o in objects if o["shape"] != "ball"][:2]
    rest = {"skill": "pick_place", "object": other, "target": cube, "dx": 0.0, "dy": 0.0}
    seen = []

    def fake_search(env, verifier, rng, seeds=(), exclude=(), arrange=True):
        seen.append([list(s) for s in seeds])
        return [{"skill": "pick_place", "object": cube, "target": ball, "dx": 0.0, "dy": 0.0}, rest], 0.9

    monkeypatch.setattr(loop, "cem_plan", fake_search)
    config = PlannerConfig(planner="cem+wm", samples=2, sampling_steps=1, max_decisions=2)
    result = Planner(config, None, tiny_skill_model).run(task)
    assert seen[0] == [] and seen[1] == [[rest]]  # the cube fell off the ball; its plan's rest is kept
    assert result.actions[0] == f"pick_place({cube}, {ball})"


class _StillAfterWaiting:
    """An env whose skills leave the scene moving and whose ``wait`` brings it to rest (control flow only;
    tests/envs/blockstack/test_skills.py checks the real wait)."""

    def __init__(self) -> None:
        self.actions: list[dict] = []

    def step(self, action):
        self.actions.append(action)
        return None, 0.0, False, False, {"stable": action["skill"] == "wait", "success": False}


def test_a_step_that_leaves_the_scene_moving_is_judged_after_a_wait():
    env = _StillAfterWaiting()
    *_, info, waited = step_and_wait(env, {"skill": "push"}, 0.0)  # 0: judge the moving scene
    assert not waited and not info["stable"] and len(env.actions) == 1
    *_, info, waited = step_and_wait(env, {"skill": "push"}, 4.0)
    assert waited and info["stable"] and env.actions[1:] == [{"skill": "push"}, {"skill": "wait", "seconds": 4.0}]
    *_, waited = step_and_wait(env, {"skill": "wait", "seconds": 1.0}, 4.0)  # still after it: no second wait
    assert not waited and len(env.actions) == 4
