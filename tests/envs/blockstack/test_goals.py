"""Goals: predicate syntax, feasibility rules, sampling shares, instruction text and its parser."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foretell.envs import get_space
from foretell.envs.blockstack.goals import (
    INFEASIBLE_SHARE,
    Predicate,
    goal_feasibility,
    instruction_text,
    max_tower,
    parse_instruction,
    sample_goal,
    tower_height,
)
from foretell.envs.blockstack.scenes import sample_layout, sample_objects

from ..helpers import ball, cube


def test_predicate_round_trip():
    for text in ["on(red_cube, blue_cube)", "on_table(red_cube)", "clear(blue_ball)", "tower_height(3)"]:
        assert str(Predicate.parse(text)) == text
    with pytest.raises(ValueError, match="unknown predicate"):
        Predicate("under", ("a", "b"))
    with pytest.raises(ValueError, match="takes 2 argument"):
        Predicate("on", ("a",))


def test_feasibility_rules():
    objects = [cube("red_cube", "red", 0, 0), cube("blue_cube", "blue", 0.1, 0), ball("green_ball", "green", -0.1, 0),
               ball("white_ball", "white", 0, 0.1)]
    assert max_tower(objects) == 3
    assert goal_feasibility((Predicate("on", ("green_ball", "red_cube")),), objects)[0]
    ok, reason = goal_feasibility((Predicate("on", ("red_cube", "green_ball")),), objects)
    assert not ok and "ball" in reason
    assert goal_feasibility((Predicate("tower_height", (3,)),), objects)[0]
    assert not goal_feasibility((Predicate("tower_height", (4,)),), objects)[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-1, max_value=5), min_size=1, max_size=6))
def test_tower_height_of_a_chain(parents):
    """Objects resting on their parent (-1 = table): height is the longest chain to the table."""
    n = len(parents)
    parents = [p if p < i else -1 for i, p in enumerate(parents)]  # acyclic: only lower indices
    on = np.zeros((n, n), dtype=bool)
    for i, p in enumerate(parents):
        if p >= 0:
            on[i, p] = True
    on_table = np.array([p < 0 for p in parents])

    def depth(i):
        return 1 if parents[i] < 0 else 1 + depth(parents[i])

    assert tower_height(on, on_table) == max(depth(i) for i in range(n))


def _sample_many(space: str, count: int):
    rng = np.random.default_rng(0)
    goals = []
    for _ in range(count):
        want_feasible = bool(rng.random() >= INFEASIBLE_SHARE)
        objects = sample_objects(rng, get_space(space), need_ball=not want_feasible)
        sample_layout(rng, objects)
        goal = sample_goal(rng, objects, want_feasible)
        assert goal.feasible == want_feasible
        assert goal_feasibility(goal.predicates, objects)[0] == goal.feasible
        goals.append((objects, goal))
    return goals


@pytest.mark.parametrize("space", ["A", "B"])
def test_sampled_shares_and_spaces(space):
    goals = _sample_many(space, 600)
    infeasible = np.mean([not g.feasible for _, g in goals])
    physics = np.mean([g.needs_physics for _, g in goals])
    assert 0.11 < infeasible < 0.19
    assert physics > 0.25
    lo, hi = get_space(space).count
    for objects, _ in goals:
        assert lo <= len(objects) <= hi
        assert all(o.color in get_space(space).colors for o in objects)
        assert len({o.name for o in objects}) == len(objects)


def test_spaces_are_disjoint():
    a, b = get_space("A"), get_space("B")
    for field in ("mass", "friction", "restitution", "cube_half", "cylinder_radius", "ball_radius", "plate_half",
                  "cylinder_half_height"):
        (a_lo, a_hi), (b_lo, b_hi) = a.bounds(field), b.bounds(field)
        assert a_hi < b_lo or b_hi < a_lo, field
    assert not set(a.colors) & set(b.colors)
    assert a.count[1] < b.count[0]
    with pytest.raises(ValueError, match="unknown property space"):
        get_space("C")


def test_instruction_canonical_and_paraphrases_parse_back():
    rng = np.random.default_rng(1)
    for objects, goal in _sample_many("A", 200) + _sample_many("B", 100):
        names = [o.name for o in objects]
        assert parse_instruction(instruction_text(goal), names) == goal.predicates
        assert parse_instruction(instruction_text(goal, rng), names) == goal.predicates


def test_paraphrases_vary_and_are_seeded():
    _, goal = next((o, g) for o, g in _sample_many("A", 50) if len(g.predicates) >= 2)
    texts = {instruction_text(goal, np.random.default_rng(s)) for s in range(30)}
    assert len(texts) >= 5
    assert instruction_text(goal, np.random.default_rng(3)) == instruction_text(goal, np.random.default_rng(3))


def test_parser_errors():
    with pytest.raises(ValueError, match="cannot parse"):
        parse_instruction("Juggle the red cube.")
    with pytest.raises(ValueError, match="unknown object"):
        parse_instruction("Put the red cube on the blue cube.", names=["red_cube", "green_cube"])
