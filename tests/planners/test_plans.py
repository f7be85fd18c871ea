"""Plan parsing and validation (``foretell.planners.plans``) and the prompts (``prompts``): every
rejection reason, the acceptance paths, agreement with the env's own checks, and the expert's
actions round-tripping through the parser."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from foretell.envs.blockstack.env import BlockStackEnv
from foretell.envs.blockstack.expert import BlockStackExpert
from foretell.envs.blockstack.skills import DIRECTIONS, MAX_PUSH_DISTANCE, SKILL_SCHEMA, direction_degrees
from foretell.envs.sim import physics
from foretell.envs.sim.scene import WORKSPACE_HALF
from foretell.planners.plans import (
    MAX_PLAN_STEPS,
    MAX_TEXT_CHARS,
    SKILLS,
    PlanCheck,
    action_text,
    parse_plan,
    plan_schema,
    plan_text,
)
from foretell.planners.prompts import (
    PLAN_STOP,
    _examples,
    build_prompt,
    describe_scene,
    feedback_for_rejection,
)

NAMES = ["red_cube", "blue_ball", "green_plate"]


def pick(obj="red_cube", target="green_plate", **extra) -> dict:
    return {"skill": "pick_place", "object": obj, "target": target, **extra}


def plan(*steps) -> str:
    return json.dumps({"plan": list(steps)})


# ---------------------------------------------------------------- acceptance


def test_accepts_a_plan_and_normalises_it():
    check = parse_plan(plan(pick(), pick("blue_ball", "red_cube", dx=0.01, dy=-0.02),
                            pick("green_plate", "table", dx=-0.2, dy=0)), NAMES)
    assert check == PlanCheck(True, (
        {"skill": "pick_place", "object": "red_cube", "target": "green_plate", "dx": 0.0, "dy": 0.0},
        {"skill": "pick_place", "object": "blue_ball", "target": "red_cube", "dx": 0.01, "dy": -0.02},
        {"skill": "pick_place", "object": "green_plate", "target": "table", "dx": -0.2, "dy": 0.0}), "")
    assert all(isinstance(a["dy"], float) for a in check.actions)


@pytest.mark.parametrize("text", [
    json.dumps([pick()]),                                              # a bare list
    'Plan: {"plan": [{"skill": "pick_place", "object": "red_cube", "target": "green_plate"}]}\n\nScene: ...',
    '```json\n{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "green_plate"}]}\n```',
    '{"thought": "cube first"} {"plan": [{"skill": "pick_place", "object": "red_cube", "target": "green_plate"}]}',
    '{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "green_plate"}], "why": "flat"}',
    '{\n  "plan" : [ {"target":"green_plate","object":"red_cube","skill":"pick_place"} ]\n}',
])
def test_accepts_plans_in_junk_and_other_layouts(text):
    check = parse_plan(text, NAMES)
    assert check.ok, check.reason
    assert check.actions == ({"skill": "pick_place", "object": "red_cube", "target": "green_plate", "dx": 0.0,
                              "dy": 0.0},)


def test_accepts_declare_infeasible_alone():
    assert parse_plan(plan({"skill": "declare_infeasible"}), NAMES).actions == ({"skill": "declare_infeasible"},)


def test_accepts_push_when_offered_with_words_degrees_and_edges():
    text = plan({"skill": "push", "object": "blue_ball", "direction": " LEFT ", "distance": 0},
                {"skill": "push", "object": "red_cube", "direction": -360, "distance": MAX_PUSH_DISTANCE})
    assert not parse_plan(text, NAMES).ok  # push is not offered by default
    check = parse_plan(text, NAMES, skills=SKILLS)
    assert check.actions == ({"skill": "push", "object": "blue_ball", "direction": "left", "distance": 0.0},
                             {"skill": "push", "object": "red_cube", "direction": -360.0,
                              "distance": MAX_PUSH_DISTANCE})


def test_accepts_exactly_max_steps():
    steps = [pick("red_cube", "table")] * 3
    assert parse_plan(plan(*steps), NAMES, max_steps=3).ok
    assert "at most 2" in parse_plan(plan(*steps), NAMES, max_steps=2).reason


# ---------------------------------------------------------------- rejection reasons

REJECTIONS = [
    ("I would stack the cube on the plate.", "no JSON found"),
    ('{"plan": [{"skill": "pick_place", "object": "red_cube"', "cut off"),
    ('{"plan": [{"skill": "pick_place", object: "red_cube"}]}', "malformed at character"),
    ("[" * 10_000, "nested too deeply"),
    ("[1" + "0" * 5000 + "]", "number too long"),
    ('{"plan": [{"skill": "pick_place", "object": "red_cube", "object": "blue_ball", "target": "table"}]}',
     "'object' appears twice"),
    ('{"steps": []}', "no 'plan' key"),
    ('{"plan": {"skill": "declare_infeasible"}}', "'plan' must be a list"),
    ('{"plan": []}', "the plan is empty"),
    (plan(*[pick("red_cube", "table")] * (MAX_PLAN_STEPS + 1)), f"at most {MAX_PLAN_STEPS} are allowed"),
    ('{"plan": ["pick_place(red_cube, green_plate)"]}', "step 1: each step must be an object"),
    (plan({"object": "red_cube", "target": "table"}), "step 1: has no 'skill'"),
    (plan({"skill": 3}), "step 1: 3 is not a skill"),
    (plan(pick(), {"skill": "stack", "object": "red_cube"}), "step 2: 'stack' is not a skill; use one of "
                                                             "pick_place, declare_infeasible"),
    (plan({"skill": "push", "object": "red_cube", "direction": 0, "distance": 0.1}), "'push' is not offered here"),
    (plan(pick(speed=2)), "pick_place does not take 'speed'"),
    (plan({"skill": "declare_infeasible", "reason": "ball"}), "declare_infeasible does not take 'reason'"),
    (plan({"skill": "pick_place", "target": "table"}), "pick_place needs 'object'"),
    (plan({"skill": "pick_place", "object": "red_cube"}), "pick_place needs 'target', one of red_cube, "
                                                          "blue_ball, green_plate or table"),
    (plan(pick(), pick("green_cube")), "step 2: 'green_cube' is not in the scene; object must be one of "
                                       "red_cube, blue_ball, green_plate"),
    (plan(pick("red_cube", "Blue_Ball")), "'Blue_Ball' is not in the scene; target must be"),
    (plan(pick("table", "red_cube")), "the table cannot be moved"),
    (plan(pick(["red_cube"], "table")), "'object' must be a name (a string)"),
    (plan(pick("red_cube", "red_cube")), "cannot place red_cube on itself"),
    (plan(pick(dx=0.3)), "'dx'=0.3 is out of range; allowed [-0.22, 0.22]"),
    (plan(pick(dy=-1e9)), "'dy'=-1000000000.0 is out of range"),
    (plan(pick(dx="0.1")), "'dx' must be a number"),
    (plan(pick(dx=True)), "'dx' must be a number"),
    (plan(pick(dx=None)), "'dx' must be a number"),
    ('{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "table", "dx": NaN}]}', "must be a finite"),
    ('{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "table", "dy": -Infinity}]}',
     "must be a finite"),
    ('{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "table", "dy": 1e999}]}', "must be a finite"),
    ('{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "table", "dy": 1' + "0" * 400 + "}]}",
     "must be a finite"),
    (plan({"skill": "declare_infeasible"}, pick()), "step 1: declare_infeasible must be the whole plan"),
    (plan(pick(), {"skill": "declare_infeasible"}), "step 2: declare_infeasible must be the whole plan"),
    ("x" * (MAX_TEXT_CHARS + 1), f"must fit in {MAX_TEXT_CHARS}"),
    (b'{"plan": []}', "the output must be text, got bytes"),
    (None, "the output must be text, got NoneType"),
]


@pytest.mark.parametrize("text, reason", REJECTIONS)
def test_rejects_with_a_reason(text, reason):
    check = parse_plan(text, NAMES)
    assert not check.ok and check.actions == ()
    assert reason in check.reason


PUSH_REJECTIONS = [
    ({"skill": "push", "object": "red_cube", "distance": 0.1}, "push needs 'direction'"),
    ({"skill": "push", "object": "red_cube", "direction": "up", "distance": 0.1}, "'up' is not a direction"),
    ({"skill": "push", "object": "red_cube", "direction": "90", "distance": 0.1}, "'90' is not a direction"),
    ({"skill": "push", "object": "red_cube", "direction": 361, "distance": 0.1}, "'direction'=361 is out of range"),
    ({"skill": "push", "object": "red_cube", "direction": 0}, "push needs 'distance'"),
    ({"skill": "push", "object": "red_cube", "direction": 0, "distance": 0.3}, "'distance'=0.3 is out of range"),
    ({"skill": "push", "object": "red_cube", "direction": 0, "distance": -0.01}, "out of range"),
    ({"skill": "push", "object": "red_cube", "target": "table", "direction": 0, "distance": 0.1},
     "push does not take 'target'"),
]


@pytest.mark.parametrize("step, reason", PUSH_REJECTIONS)
def test_rejects_bad_pushes_with_a_reason(step, reason):
    check = parse_plan(plan(step), NAMES, skills=SKILLS)
    assert not check.ok and reason in check.reason


@pytest.mark.parametrize("kwargs", [{"object_names": []}, {"object_names": ["a", "a"]}, {"object_names": ["table"]},
                                    {"object_names": "red_cube"}, {"object_names": ["a", ""]},
                                    {"max_steps": 0}, {"max_steps": 2.0}, {"skills": ()}, {"skills": ("fly",)},
                                    {"skills": ("push", "push")}])
def test_bad_arguments_raise(kwargs):
    args = {"object_names": NAMES} | kwargs
    with pytest.raises(ValueError):
        parse_plan("[]", **args)
    with pytest.raises(ValueError):
        plan_schema(**args)


def test_plan_check_is_ok_xor_reason():
    with pytest.raises(ValueError):
        PlanCheck(True, (), "")
    with pytest.raises(ValueError):
        PlanCheck(False, (), "")
    with pytest.raises(ValueError):
        PlanCheck(True, ({"skill": "declare_infeasible"},), "because")


def test_model_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [f"__import__('os').system('touch {marker}')",
                json.dumps({"plan": [pick(f"__import__('os').system('touch {marker}')")]}),
                f'{{"plan": [{{"skill": "eval(\\"open(\'{marker}\', \'w\')\\")"}}]}}']
    for text in payloads:
        assert not parse_plan(text, NAMES).ok
    assert not marker.exists()


# ---------------------------------------------------------------- schema


def test_schema_lists_scene_names_and_no_self_placement():
    schema = plan_schema(NAMES, max_steps=4)
    moves, declare = schema["properties"]["plan"]["anyOf"]
    assert moves["maxItems"] == 4 and declare["maxItems"] == 1
    variants = moves["items"]["anyOf"]
    assert [v["properties"]["object"]["const"] for v in variants] == NAMES
    for v in variants:
        targets = v["properties"]["target"]["enum"]
        assert v["properties"]["object"]["const"] not in targets and targets[-1] == "table"
        assert v["properties"]["dx"] == {"type": "number", "minimum": -WORKSPACE_HALF, "maximum": WORKSPACE_HALF}
    assert json.loads(json.dumps(schema)) == schema


def test_schema_offers_push_only_when_asked():
    assert "push" not in json.dumps(plan_schema(NAMES))
    push = plan_schema(NAMES, skills=SKILLS)["properties"]["plan"]["anyOf"][0]["items"]["anyOf"][-1]
    assert push["properties"]["skill"] == {"const": "push"}
    assert push["properties"]["direction"]["anyOf"][1]["enum"] == sorted(DIRECTIONS)
    only_declare = plan_schema(NAMES, skills=("declare_infeasible",))["properties"]["plan"]
    assert only_declare["maxItems"] == 1


def test_schema_compiles_with_llguidance_and_matches_parse_plan():
    llg = pytest.importorskip("llguidance")
    tokenizer = llg.LLTokenizer(llg.TokenizerWrapper(_ByteTokenizer()))
    schema = {**plan_schema(NAMES, skills=SKILLS),
              "x-guidance": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}}
    grammar = llg.LLMatcher.grammar_from_json_schema(schema)
    assert llg.LLMatcher.validate_grammar(grammar, tokenizer) == ""
    texts = [plan(pick(), pick("blue_ball", "red_cube", dx=0.02, dy=-0.01)),
             plan({"skill": "declare_infeasible"}),
             plan({"skill": "push", "object": "red_cube", "direction": "left", "distance": 0.1}),
             plan(pick("red_cube", "red_cube")), plan(pick(dx=0.5)), plan({"skill": "declare_infeasible"}, pick()),
             plan(pick("green_cube")), '{"plan": []}']
    for text in texts:
        matcher = llg.LLMatcher(tokenizer, grammar, log_level=0)
        grammar_ok = matcher.consume_tokens(list(text.encode())) and matcher.is_stopped() and not matcher.is_error()
        assert grammar_ok == parse_plan(text, NAMES, skills=SKILLS).ok, text


class _ByteTokenizer:
    """A byte-level vocabulary (token i = byte i) plus an end-of-sequence token, for llguidance."""
    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, s):
        return list(s.encode() if isinstance(s, str) else s)


# ---------------------------------------------------------------- text helpers


def test_action_text_and_plan_text():
    assert action_text(pick()) == "pick_place(red_cube, green_plate)"
    assert action_text(pick("red_cube", "table", dx=0.1, dy=-0.05)) == "pick_place(red_cube, table, dx=0.1, dy=-0.05)"
    assert action_text({"skill": "push", "object": "red_cube", "direction": "left", "distance": 0.05}) == \
        "push(red_cube, left, 0.05)"
    assert plan_text([pick(), {"skill": "declare_infeasible"}]) == \
        "pick_place(red_cube, green_plate); declare_infeasible()"
    for bad in ({"skill": "fly"}, {"skill": "pick_place", "object": "red_cube"}, "pick_place"):
        with pytest.raises(ValueError):
            action_text(bad)


def test_feedback_for_rejection():
    check = parse_plan(plan(pick("green_cube")), NAMES)
    assert feedback_for_rejection(check) == f"a plan was rejected: {check.reason}"
    with pytest.raises(ValueError):
        feedback_for_rejection(parse_plan(plan(pick()), NAMES))


def test_describe_scene_from_the_env():
    env = BlockStackEnv(obs_keys=("state",))
    env.reset(seed=0)
    tt = env.tabletop
    on, on_table = physics.support_matrix(tt.scene, tt.data)
    text = describe_scene(env.objects, env.object_names, on, on_table)
    lines = text.splitlines()
    assert lines[0] == "Objects (perceived properties):"
    for name, obj in zip(env.object_names, env.objects, strict=True):
        line = next(line for line in lines if line.startswith(f"- {name}: "))
        assert f"{obj.color} {obj.shape}" in line and f"{obj.mass:.2f} kg" in line and "cm" in line
    assert lines[-2].startswith("Resting: ") and lines[-1].startswith("Clear (nothing on top): ")
    assert all(f"{name} is on" in text for name in env.object_names)


def test_describe_scene_relations_modes_unknowns_and_graph():
    objects = [{"shape": "cube", "color": "red", "size": (0.025,), "mass": 0.3},
               {"shape": "ball", "color": "blue", "size": (0.03,)},  # mass not perceived
               None]
    on = np.zeros((3, 3), dtype=bool)
    on[1, 0] = True  # blue_ball rests on red_cube
    on_table = np.array([True, False, False])
    text = describe_scene(objects, NAMES, on, on_table)
    assert "- red_cube: red cube, 5.0 cm wide, 5.0 cm tall, 0.30 kg, flat top" in text
    assert "- blue_ball: blue ball, 6.0 cm across, round top" in text
    assert "- green_plate: unknown object" in text
    assert ("Resting: red_cube is on the table; blue_ball is on red_cube; green_plate rests on nothing "
            "(held or falling)") in text
    assert "Clear (nothing on top): blue_ball, green_plate" in text
    blind = describe_scene(objects, NAMES, on, on_table, properties="none")
    assert blind.startswith("Objects:\n") and "kg" not in blind and "cm" not in blind
    assert describe_scene(objects, NAMES, on, on_table, properties="true").startswith("Objects (true properties):")
    graph = nx.DiGraph()
    graph.add_edge("red_cube", "blue_ball", p=0.92, kind="support")
    graph.add_edge("agent", "red_cube", p=0.6, kind="contact")
    graph.add_edge("ghost", "red_cube", p=1.0, kind="contact")  # not in the scene: left out
    text = describe_scene(objects, NAMES, on, on_table, graph=graph)
    assert text.endswith("Learned causal links: red_cube holds up blue_ball (p = 0.92); the gripper pushes "
                         "red_cube (p = 0.60)")
    assert describe_scene(objects, NAMES, on, on_table, graph=nx.DiGraph()).endswith("Learned causal links: none")


@pytest.mark.parametrize("kwargs", [{"on": np.zeros((2, 2))}, {"on_table": np.zeros(4)}, {"objects": [None]},
                                    {"properties": "exact"}])
def test_describe_scene_rejects_bad_input(kwargs):
    args = {"objects": [None] * 3, "object_names": NAMES, "on": np.zeros((3, 3)), "on_table": np.ones(3)} | kwargs
    with pytest.raises(ValueError):
        describe_scene(**args)


def test_prompt_is_few_shot_in_one_format_and_ends_at_plan():
    scene = describe_scene([None] * 3, NAMES, np.zeros((3, 3)), np.ones(3))
    prompt = build_prompt("Put the red cube on the  green plate.", scene, ["pick_place(blue_ball, table)"],
                          ["a plan was rejected: step 1: 'green_cube' is not in the scene"])
    assert prompt.endswith("\nPlan:") and PLAN_STOP == "\n"  # no trailing space: the model writes " {"
    cases = prompt.split("\n\nScene:\n")[1:]
    assert len(cases) == 4
    sections = ["Task: ", "Done so far: ", "Notes:", "Plan:"]
    for case in cases:
        positions = [case.index(f"\n{s}") for s in sections]
        assert positions == sorted(positions)
    assert "Task: Put the red cube on the green plate.\nDone so far: pick_place(blue_ball, table)\n" in cases[-1]
    assert "Notes:\n- a plan was rejected: step 1: 'green_cube' is not in the scene\nPlan:" in cases[-1]
    assert all("\nPlan: {\"plan\": [" in case for case in cases[:-1])
    assert "Notes: none" in build_prompt("Stack.", scene)
    assert "- push:" not in prompt and "- push:" in build_prompt("Stack.", scene, skills=SKILLS)
    assert "- declare_infeasible:" in prompt


def test_prompt_examples_are_valid_plans_teaching_the_physics():
    examples = _examples()
    plans = []
    for case, example in examples:
        names = [line[2:].split(":")[0] for line in case.split("Task: ")[0].splitlines() if line.startswith("- ")]
        check = parse_plan(json.dumps(example), names)
        assert check.ok, check.reason
        plans.append(check.actions)
    assert plans[0] == ({"skill": "declare_infeasible"},)  # a goal that needs something on a ball
    tower = plans[1]
    assert tower[-1]["object"] == "green_ball"  # the ball goes last, on top
    assert tower[1] == {"skill": "pick_place", "object": "red_cube", "target": "blue_plate", "dx": 0.0, "dy": 0.0}


@pytest.mark.parametrize("kwargs", [{"instruction": ""}, {"scene_text": " "}, {"history": "pick_place(a, b)"},
                                    {"feedback": [3]}, {"skills": ("fly",)}])
def test_build_prompt_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        build_prompt(**({"instruction": "Stack.", "scene_text": "Objects:"} | kwargs))


# ---------------------------------------------------------------- agreement with the env


def _present_names(env: BlockStackEnv) -> list[str]:
    return [n for n, here in zip(env.object_names, env.present, strict=True) if here]


def test_expert_actions_round_trip_and_step_the_env():
    env = BlockStackEnv(obs_keys=("state",))
    seen = 0
    for seed in range(6):
        env.reset(seed=seed)
        expert = BlockStackExpert(env)
        for _ in range(4):
            action = expert.act()
            check = parse_plan(plan(action), _present_names(env))
            assert check.ok, check.reason
            assert check.actions == (action,)
            seen += 1
            _, _, terminated, truncated, _ = env.step(check.actions[0])
            if terminated or truncated:
                break
    assert seen >= 6


def _random_action(rng: np.random.Generator, names: list[str]) -> dict:
    """A named action, valid or not: its skill's keys (each sometimes missing), values at and beyond the
    env's limits, and now and then a key of another skill."""
    pool = [*names, *names, "table", "ghost_cube", 3, None]
    numbers = [0, 0.0, 0.1, -0.05, WORKSPACE_HALF, -WORKSPACE_HALF, MAX_PUSH_DISTANCE, 0.23, -0.5, 0.26, -0.01, 90,
               float("nan"), float("inf"), "0.1", True, None, [0.1]]
    values = {"object": pool, "target": pool, "dx": numbers, "dy": numbers, "distance": numbers,
              "direction": [*DIRECTIONS, "LEFT", " away ", "up", "90", 45.0, -360, 720, float("nan"), None]}
    skill = str(rng.choice(["pick_place", "push", "declare_infeasible", "stack"]))
    keys = [k for k in SKILL_SCHEMA.get(skill, {"params": {}})["params"] if rng.random() < 0.9]
    if rng.random() < 0.1:
        keys.append(str(rng.choice(list(values))))
    action = {"skill": skill}
    for key in keys:
        action[key] = values[key][rng.integers(len(values[key]))]
    return action


def _in_degrees(parsed: tuple) -> tuple:
    """The env's parsed (skill, args, error) with a push direction word as degrees (it keeps the raw word)."""
    skill, args, error = parsed
    if skill == "push":
        args = (args[0], direction_degrees(args[1]), args[2])
    return skill, args, error


def test_parse_plan_agrees_with_the_env_checks():
    """On 3000 random actions, parse_plan accepts only what the env's own parser accepts, with the same
    arguments; where it is stricter, it is for the documented reasons (types, extra keys, degrees)."""
    env = BlockStackEnv(obs_keys=("state",))
    env.reset(seed=1)
    names = _present_names(env)
    rng = np.random.default_rng(0)
    accepted = stricter = 0
    for _ in range(3000):
        action = _random_action(rng, names)
        check = parse_plan(json.dumps({"plan": [action]}), names, skills=SKILLS)
        try:
            env_parsed = _in_degrees(env._parse_action(action))
        except (ValueError, TypeError):  # the env raises TypeError for a push direction of null
            env_parsed = None
        if check.ok:
            accepted += 1
            assert env_parsed is not None, action
            assert _in_degrees(env._parse_action(check.actions[0])) == env_parsed
        elif env_parsed is not None:
            stricter += 1
            assert any(s in check.reason for s in ("must be a number", "does not take", "is not a direction",
                                                   "'direction'=", "is not a skill", "must be a finite")), \
                (action, check.reason)
    assert accepted > 300 and stricter > 0


def test_validated_random_plans_never_raise_in_env_step():
    env = BlockStackEnv(obs_keys=("state",))
    rng = np.random.default_rng(1)
    executed = []
    for seed in range(3):
        env.reset(seed=seed)
        names, plans = _present_names(env), 0
        for _ in range(1000):
            steps = [_random_action(rng, names) for _ in range(int(rng.integers(1, 4)))]
            check = parse_plan(json.dumps({"plan": steps}), names, skills=SKILLS)
            if not check.ok or check.actions[0]["skill"] == "declare_infeasible":
                continue
            for action in check.actions:
                _, _, terminated, truncated, _ = env.step(action)
                executed.append(action["skill"])
            plans += 1
            if plans == 2 or terminated or truncated:
                break
    assert len(executed) >= 6 and {"pick_place", "push"} <= set(executed)


def test_preconditions_are_tracked_along_a_plan():
    from foretell.planners.plans import check_preconditions

    below = {"a": None, "b": "a", "c": None}  # b rests on a
    def place(o, t):
        return {"skill": "pick_place", "object": o, "target": t, "dx": 0.0, "dy": 0.0}

    assert check_preconditions([place("a", "c")], below) == (0, "a has b on it: move b first")
    assert check_preconditions([place("c", "a")], below) == (0, "a has b on it: move b first")
    assert check_preconditions([place("b", "table"), place("a", "c"), place("b", "a")], below) == (3, "")
    assert check_preconditions([place("b", "c"), place("a", "b"), place("c", "a")], below) == \
        (2, "c has b on it: move b first")
    assert check_preconditions([place("b", "a")], below) == (1, "")  # putting it back where it rests
    assert check_preconditions([{"skill": "declare_infeasible"}], below) == (1, "")
    assert below == {"a": None, "b": "a", "c": None}  # not changed
