"""PlanBench Blocksworld: the shipped copy, the PDDL parser, optimal plans, and the BlockStack mapping."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from foretell.planners import planbench
from foretell.planners.planbench import (
    BLOCK_COLORS,
    DATA_DIR,
    load_problem,
    optimal_moves,
    parse_problem,
    pddl_plan,
    scene_objects,
)
from foretell.planners.tasks import make_env, physics_blind_plan, planbench_task, symbolic_state

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "1907e2661a7609c3304ea00a44a80b9c6f9f76c9370564b17fe0d87b259ff0c5"  # planners/data/PLANBENCH_SOURCE.md


@pytest.fixture(scope="module")
def problems() -> dict:
    return {n: load_problem(n) for n in planbench.instance_numbers()}


def _five_high(problems: dict) -> int:
    """The first instance with a stack of five blocks."""
    return next(n for n, p in problems.items() if max(map(len, p.stacks())) == 5)


def _folder_digest(folder: Path) -> str:
    """``find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum`` in Python."""
    paths = sorted((f"./{p.relative_to(folder).as_posix()}", p) for p in folder.rglob("*") if p.is_file())
    lines = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {name}\n" for name, p in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


def test_shipped_copy_is_unchanged():
    assert _folder_digest(DATA_DIR) == DIGEST
    shared = ROOT.parent / "shared" / "planbench"
    if shared.is_dir():  # beside a checkout (and in CI): the copy is byte-identical to the source
        assert _folder_digest(shared) == DIGEST


def _apply(below: dict, moves: list[tuple[str, str]]) -> dict:
    """Execute moves symbolically, checking Blocksworld's preconditions."""
    below = dict(below)
    for block, dest in moves:
        covered = set(below.values())
        assert block not in covered, f"{block} is not clear"
        assert dest == "table" or (dest not in covered and dest != block), f"cannot put {block} on {dest}"
        below[block] = None if dest == "table" else dest
    return below


def test_all_500_instances_parse_and_have_optimal_plans(problems):
    blocks, lengths = [], []
    assert sorted(problems) == list(range(1, 501))
    for number, problem in problems.items():
        assert problem.name == f"instance-{number}"
        assert problem.blocks == tuple("abcde"[: len(problem.blocks)])
        assert problem.goal and all(u != v for u, v in problem.goal)
        moves = optimal_moves(problem.below, problem.goal)
        end = _apply(problem.below, moves)
        assert all(end[u] == v for u, v in problem.goal)
        blocks.append(len(problem.blocks))
        lengths.append(len(moves))
    assert blocks.count(4) == 445 and blocks.count(5) == 55  # as the PlanBench README says
    assert min(lengths) >= 1 and max(lengths) <= 8


def test_parse_problem_reads_facts_and_goal():
    problem = load_problem(1)
    assert problem.below == {"a": None, "b": "c", "c": None, "d": None}
    assert problem.goal == (("c", "b"),)
    assert problem.stacks() == [["a"], ["c", "b"], ["d"]]


INIT = "(:init (handempty) (ontable a) (on b a) (clear b) {extra})"
PROBLEM = "(define (problem p) (:domain blocksworld-4ops) (:objects a b) {init} (:goal (and {goal})))"


@pytest.mark.parametrize("text, message", [
    ("(define (problem", "not a valid PDDL problem"),
    (PROBLEM.format(init=INIT.format(extra="(clear a)"), goal="(on a b)"), "clear facts"),
    (PROBLEM.format(init=INIT.format(extra="(ontable b)"), goal="(on a b)"), "rests on two things"),
    (PROBLEM.format(init="(:init (ontable a) (ontable b) (clear a) (clear b))", goal="(on a b)"), "handempty"),
    (PROBLEM.format(init=INIT.format(extra=""), goal="(ontable a)"), "conjunction of on"),
    (PROBLEM.format(init=INIT.format(extra="(holding a)"), goal="(on a b)"), "unexpected init fact"),
])
def test_parse_problem_rejects_inconsistent_input(text, message):
    with pytest.raises(ValueError, match=message):
        parse_problem(text, name="bad")


def test_optimal_moves_are_shortest_and_convert_to_pddl():
    # c on b on a; goal a on b on c: reversing a 3-tower takes 3 moves (b, then the base order)
    below = {"a": None, "b": "a", "c": "b"}
    moves = optimal_moves(below, [("a", "b"), ("b", "c")])
    assert len(moves) == 3
    assert pddl_plan(below, moves) == ["(unstack c b)", "(put-down c)", "(unstack b a)", "(stack b c)",
                                       "(pick-up a)", "(stack a b)"]
    assert optimal_moves(below, [("b", "a")]) == []
    with pytest.raises(ValueError, match="unknown blocks"):
        optimal_moves(below, [("z", "a")])


def test_scene_objects_are_equal_cubes_resting_in_stacks(problems):
    problem = problems[_five_high(problems)]
    objects = scene_objects(problem)
    assert [o.name for o in objects] == [f"{BLOCK_COLORS[b]}_cube" for b in problem.blocks]
    assert len({(o.size, o.mass, o.friction, o.restitution) for o in objects}) == 1
    z = sorted(o.pos[2] for o in objects)
    assert np.allclose(np.diff(z), 2 * planbench.CUBE["half"], atol=2e-4)


@pytest.mark.parametrize("number", [1, 2, 3])
def test_make_env_reproduces_the_initial_facts(number):
    task = planbench_task(number)
    env, _, info = make_env(task, obs_keys=("state",))
    try:
        problem = load_problem(number)
        expected = {planbench.block_name(b): (planbench.block_name(v) if v else None) for b, v in problem.below.items()}
        assert symbolic_state(env) == expected
        assert info["goal"]["predicates"] == task.options["goal"] and info["feasible"]
    finally:
        env.close()


def test_five_high_stack_stands_still_after_reset(problems):
    task = planbench_task(_five_high(problems))
    env, _, _ = make_env(task, obs_keys=("state",))
    try:
        before = symbolic_state(env)
        stable, _ = env.unwrapped.tabletop.settle(window=1.0, timeout=5.0)
        assert stable and symbolic_state(env) == before
    finally:
        env.close()


def test_optimal_plan_solves_an_instance_in_blockstack():
    task = planbench_task(1)  # unstack b, put c on b
    env, _, _ = make_env(task, obs_keys=("state",))
    try:
        plan = physics_blind_plan(task, env)
        assert len(plan) == task.meta["optimal_length"] == 2
        for action in plan:
            *_, terminated, _, info = env.step(action)
        assert terminated and info["success"]
    finally:
        env.close()
