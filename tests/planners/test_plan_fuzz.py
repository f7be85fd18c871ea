"""Fuzzing the plan parser: random, truncated and adversarial model outputs never crash it, and each is
accepted or rejected with a reason; every instance of ``plan_schema`` (what a constrained decoder can
emit) is accepted.

Hypothesis draws ~1,900 cases (derandomised, so CI sees the same ones every run); the truncation and
mutation tests derive many outputs from each. Outputs parsed per run: random text 400, random JSON
values 300, plan-shaped JSON 400, schema instances 400 (+ 100 with odd scene names, twice each),
junk-wrapped plans 150, fixed adversarial cases ~20, 60 valid plans cut at every character (~9,000)
and 100 valid plans with each key of a step given each of 29 adversarial values (~29,000).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foretell.planners.plans import MAX_TEXT_CHARS, SKILLS, PlanCheck, parse_plan, plan_schema

NAMES = ["red_cube", "blue_ball", "green_plate", "white_cylinder"]


def fuzz(examples: int) -> settings:
    """Deterministic (derandomised, no example database) and without per-example deadlines."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def verdict(text, names=NAMES, skills=SKILLS) -> PlanCheck:
    """Parse ``text`` and check the contract: a PlanCheck, ok xor a short reason, accepted plans stable."""
    check = parse_plan(text, names, skills=skills)
    assert isinstance(check, PlanCheck)
    assert check.ok != bool(check.reason)
    if check.ok:
        again = parse_plan(json.dumps({"plan": list(check.actions)}), names, skills=skills)
        assert again.actions == check.actions  # normalised actions are a fixed point
    else:
        assert check.actions == () and isinstance(check.reason, str) and len(check.reason) < 400
        check.reason.encode("utf-8")  # printable into a prompt: no lone surrogates from model escapes
    return check


# ---------------------------------------------------------------- strategies

# JSON leaves as a model might mangle them: NaN/Infinity, huge and tiny numbers, names and near-names.
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                   st.sampled_from([*NAMES, "table", "Red_Cube", "pick_place", "push", "declare_infeasible",
                                    "left", "__import__('os')", 1e308, -0.0, 10**400]))
JSON_VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
KEYS = ["skill", "object", "target", "dx", "dy", "direction", "distance", "reason", ""]
STEP = st.dictionaries(st.sampled_from(KEYS), LEAVES, max_size=6)
PLAN_SHAPED = st.one_of(st.fixed_dictionaries({"plan": st.lists(STEP | LEAVES, max_size=8)}),
                        st.lists(STEP, max_size=8))


def from_schema(schema: dict) -> st.SearchStrategy:
    """Instances of a JSON schema in the subset ``plan_schema`` uses (any other keyword fails the test)."""
    known = {"type", "properties", "required", "additionalProperties", "const", "enum", "anyOf", "items",
             "minItems", "maxItems", "minimum", "maximum"}
    assert set(schema) <= known, f"plan_schema uses keywords beyond the tested subset: {set(schema) - known}"
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "number":
        low, high = schema["minimum"], schema["maximum"]
        return st.floats(low, high) | st.integers(math.ceil(low), math.floor(high))
    if kind == "array":
        return st.lists(from_schema(schema["items"]), min_size=schema.get("minItems", 0),
                        max_size=schema["maxItems"])
    assert kind == "object" and schema["additionalProperties"] is False
    props = {k: from_schema(v) for k, v in schema["properties"].items()}
    return st.fixed_dictionaries({k: props[k] for k in schema["required"]},
                                 optional={k: s for k, s in props.items() if k not in schema["required"]})


SCHEMA_PLANS = from_schema(plan_schema(NAMES, skills=SKILLS))
ODD_NAMES = st.lists(st.text(min_size=1, max_size=10).filter(lambda n: n != "table"), min_size=1, max_size=6,
                     unique=True)
JUNK = st.text(alphabet=st.characters(blacklist_characters="[]{}"), max_size=60)


# ---------------------------------------------------------------- properties


@fuzz(400)
@given(st.text(max_size=300))
def test_random_text(text):
    verdict(text)


@fuzz(300)
@given(JSON_VALUES)
def test_random_json_values(value):
    verdict(json.dumps(value))


@fuzz(400)
@given(PLAN_SHAPED)
def test_plan_shaped_json(value):
    verdict(json.dumps(value))


@fuzz(400)
@given(SCHEMA_PLANS)
def test_every_schema_instance_is_accepted(instance):
    check = verdict(json.dumps(instance))
    assert check.ok, (instance, check.reason)
    assert [a["skill"] for a in check.actions] == [s["skill"] for s in instance["plan"]]
    assert [a.get("object") for a in check.actions] == [s.get("object") for s in instance["plan"]]


@fuzz(100)
@given(ODD_NAMES.flatmap(lambda names: st.tuples(st.just(names), from_schema(plan_schema(names, max_steps=3)))))
def test_schema_instances_with_unicode_and_quoted_names(case):
    names, instance = case
    for text in (json.dumps(instance), json.dumps(instance, ensure_ascii=False)):
        check = verdict(text, names)
        assert check.ok, (names, instance, check.reason)


@fuzz(150)
@given(SCHEMA_PLANS, JUNK, JUNK)
def test_plans_wrapped_in_junk_are_found(instance, before, after):
    check = verdict(before + json.dumps(instance) + after)
    assert check.ok and check.actions == verdict(json.dumps(instance)).actions


@fuzz(60)
@given(SCHEMA_PLANS)
def test_truncations_at_every_character(instance):
    """A cut-off output is rejected, or accepted as the complete action list it still holds (when only
    the closing brace is missing), never as a prefix of the plan."""
    text = json.dumps(instance)
    full = verdict(text).actions
    for end in range(len(text)):
        check = verdict(text[:end])
        assert not check.ok or check.actions == full


ADVERSARIAL_VALUES = [float("nan"), float("inf"), -float("inf"), 1e308, 10**400, -(10**30), "table", "",
                      "red_cube\"", "red_cube\u0000", "réd_cube", "\ud800", "__import__('os').system('ls')",
                      [], {}, None, True, "red_cube " * 500]


LITERALS = ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "-0", "1E-400", "[" * 900 + "]" * 900,
            "[" * 10_000 + "]" * 10_000, "{\"skill\": " * 50 + "0" + "}" * 50]


def mutations(instance: dict, index: int, key: str) -> list[str]:
    """Texts of ``instance`` with step ``index``'s ``key`` set to each adversarial value, written as each
    adversarial literal, dropped, or repeated (json.dumps cannot write the literals or a repeated key)."""
    texts = []
    step = instance["plan"][index]
    original = step.get(key, None)
    for value in ADVERSARIAL_VALUES:
        step[key] = value
        texts.append(json.dumps(instance))
    step[key] = "@@"
    marked = json.dumps(instance)
    texts += [marked.replace('"@@"', literal) for literal in LITERALS]
    texts.append(marked.replace('"@@"', f'"x", "{key}": "y"'))  # the key twice in one object
    del step[key]
    texts.append(json.dumps(instance))
    if original is not None:
        step[key] = original
    return texts


@fuzz(100)
@given(SCHEMA_PLANS, st.data())
def test_adversarial_mutations_of_valid_plans(instance, data):
    """Every key of one step (and a stray 'plan' key) set to each adversarial value and literal: ~300 texts."""
    index = data.draw(st.integers(0, len(instance["plan"]) - 1))
    for key in [*KEYS, "plan"]:
        for text in mutations(instance, index, key):
            verdict(text)


@pytest.mark.parametrize("text", [
    "[" * 10_000, "{" * 10_000, '{"plan": ' + "[" * 5000 + "]" * 5000 + "}", '{"a":' * 3000 + "1" + "}" * 3000,
    "[" * (MAX_TEXT_CHARS + 5), "x" * MAX_TEXT_CHARS + "[]", "{}" * (MAX_TEXT_CHARS // 2), "[1, " * 4000,
    '{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "table", "dx": 1' + "0" * 4400 + "}]}",
    '{"plan": [{"skill": "pick_place", "object": "table", "target": "red_cube"}]}',
    '{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "table", "dx": NaN}]}',
    '{"plan": [{"skill": "declare_infeasible", "skill": "declare_infeasible"}]}',
    '{"plan": "__import__(\'os\').system(\'rm -rf /\')"}', "eval(compile('1', 'x', 'eval'))",
    '{"plan": [{"skill": "\\ud800", "object": "\\udfff"}]}', '\ufeff{"plan": []}', "\x00" * 100, "",
    "  \n\t ", '{"plan": [{"skill": "pick_place", "object": "red_cube", "target": "blue_ball"}]' + "}" * 10_000,
])
def test_fixed_adversarial_outputs(text):
    verdict(text)


def test_an_output_over_the_cap_is_rejected_without_reading_it():
    check = verdict('{"plan": [{"skill": "declare_infeasible"}]}' + " " * MAX_TEXT_CHARS)
    assert "characters long" in check.reason
