"""Plans: the JSON action lists an LLM proposes for BlockStack, their schema and their validation.

A plan is ``{"plan": [action, ...]}`` where each action is one of the env's named skills
(``foretell.envs`` ``SKILL_SCHEMA``): ``{"skill": "pick_place", "object": "red_cube", "target":
"blue_cube" | "table", "dx": 0.0, "dy": 0.0}``, ``{"skill": "push", "object": ..., "direction":
90 | "left", "distance": 0.05}`` or ``{"skill": "declare_infeasible"}`` (alone: it ends the episode).

Model text is data, never code: ``parse_plan`` reads the first JSON value in it with
``json.JSONDecoder.raw_decode`` and checks every field against the scene's object names and the
env's ranges, so a plan it accepts never raises in ``BlockStackEnv.step``. A rejection carries a
one-sentence reason a small model can act on; the planner feeds it back (``prompts``).

``parse_plan`` is a little stricter than the env, and says so in its reason: numbers must be
JSON numbers (the env would also take ``"0.1"`` or ``true``), actions may hold only their
skill's keys (the env ignores others), and a push direction in degrees must lie in [-360, 360].
``plan_schema`` describes the same set for constrained decoding; every schema-valid plan
passes ``parse_plan`` (tests/planners/test_plan_fuzz.py checks it).
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass

from ..envs.blockstack.skills import DIRECTIONS, MAX_PUSH_DISTANCE, SKILL_SCHEMA
from ..envs.sim.scene import WORKSPACE_HALF

MAX_PLAN_STEPS = 6
"""Default longest plan: the planner replans after executing a prefix, so long plans waste tokens."""
MAX_TEXT_CHARS = 20_000
"""Longest model output ``parse_plan`` reads; a plan of 6 steps is ~600 characters."""
MAX_DEGREES = 360.0
"""A push direction in degrees lies in [-MAX_DEGREES, MAX_DEGREES]."""
SKILLS: tuple[str, ...] = tuple(SKILL_SCHEMA)
"""Every skill the env takes: pick_place, push, declare_infeasible."""
PLAN_SKILLS: tuple[str, ...] = ("pick_place", "declare_infeasible")
"""The skills a stacking planner offers the LLM by default (push is rarely useful for stacking)."""
TABLE = "table"
"""The pick_place target that means the table; it is never an object's name."""

_KEYS = {skill: ("skill", *SKILL_SCHEMA[skill]["params"]) for skill in SKILLS}
_MAX_STARTS = 16  # JSON start characters tried in junk-wrapped text; bounds the work on adversarial input
_JSON_START = re.compile(r"[\[{]")
_EXAMPLE = '{"plan": [{"skill": "pick_place", "object": "...", "target": "..."}]}'
_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlong, _repr.maxlevel = 40, 40, 40, 2
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 3


@dataclass(frozen=True)
class PlanCheck:
    """The verdict on one model output.

    Attributes:
        ok: True when the output is a valid plan for the scene.
        actions: the plan's actions normalised to the env's named form (floats for numbers, dx and
            dy always present for pick_place, direction words lower-case); empty unless ``ok``.
        reason: "" when ``ok``; else one sentence saying what is wrong and what is allowed.
    """

    ok: bool
    actions: tuple[dict, ...]
    reason: str

    def __post_init__(self) -> None:
        if self.ok and (self.reason or not self.actions):
            raise ValueError("an accepted PlanCheck has actions and no reason")
        if not self.ok and (not self.reason or self.actions):
            raise ValueError("a rejected PlanCheck has a reason and no actions")


def plan_schema(object_names: Sequence[str], max_steps: int = MAX_PLAN_STEPS,
                skills: Sequence[str] = PLAN_SKILLS, offsets: bool = True) -> dict:
    """JSON schema of ``{"plan": [action, ...]}`` for this scene, for constrained decoding.

    Uses only the draft 2020-12 keywords that llguidance compiles (type, properties, required,
    additionalProperties, const, enum, anyOf, items, minItems, maxItems, minimum, maximum). Objects
    and targets are enums of the scene's names, one pick_place variant per object so that no
    object can be placed on itself; declare_infeasible is a plan of its own. Every instance passes
    ``parse_plan`` with the same names and ``max_steps``.

    Args:
        object_names: the scene's object names (unique, non-empty, never "table").
        max_steps: longest plan, >= 1.
        skills: the skills offered, a non-empty subset of ``SKILLS`` (push only when listed).
        offsets: offer pick_place's ``dx``/``dy``. Without them a plan says only what goes where
            (fewer tokens; the planner then chooses table spots itself).

    Returns:
        The schema as a dict (``json.dumps`` it for a backend).
    """
    names, skills = _check_names(object_names), _check_skills(skills)
    _check_max_steps(max_steps)
    moves: list[dict] = []
    if "pick_place" in skills:
        offset = {"type": "number", "minimum": -WORKSPACE_HALF, "maximum": WORKSPACE_HALF}
        moves += [_action_schema("pick_place", {
            "object": {"const": name}, "target": {"enum": [n for n in names if n != name] + [TABLE]},
            **({"dx": offset, "dy": offset} if offsets else {})}, ["object", "target"]) for name in names]
    if "push" in skills:
        moves.append(_action_schema("push", {
            "object": {"enum": names},
            "direction": {"anyOf": [{"type": "number", "minimum": -MAX_DEGREES, "maximum": MAX_DEGREES},
                                    {"enum": sorted(DIRECTIONS)}]},
            "distance": {"type": "number", "minimum": 0.0, "maximum": MAX_PUSH_DISTANCE}},
            ["object", "direction", "distance"]))
    cases = []
    if moves:
        cases.append({"type": "array", "items": moves[0] if len(moves) == 1 else {"anyOf": moves},
                      "minItems": 1, "maxItems": max_steps})
    if "declare_infeasible" in skills:
        cases.append({"type": "array", "items": _action_schema("declare_infeasible", {}, []),
                      "minItems": 1, "maxItems": 1})
    plan = cases[0] if len(cases) == 1 else {"anyOf": cases}
    return {"type": "object", "properties": {"plan": plan}, "required": ["plan"], "additionalProperties": False}


def _action_schema(skill: str, params: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": {"skill": {"const": skill}, **params},
            "required": ["skill", *required], "additionalProperties": False}


def parse_plan(text: str, object_names: Sequence[str], max_steps: int = MAX_PLAN_STEPS,
               skills: Sequence[str] = PLAN_SKILLS) -> PlanCheck:
    """Read and validate a plan from model output. Never raises on any ``text``.

    Accepts ``{"plan": [...]}`` or a bare JSON list of actions, with any text around it (the first
    JSON value that looks like a plan is used; nothing is evaluated). Rejects, with a reason: text
    that is not a string or longer than ``MAX_TEXT_CHARS``, no or malformed or cut-off JSON, nesting
    too deep to read, repeated keys, an empty plan or one longer than ``max_steps``, steps that
    are not objects, unknown or disallowed skills, keys a skill does not take, unknown objects
    (including "table" as the moved object), an object placed on itself, numbers that are not
    JSON numbers, not finite or out of the env's range, and declare_infeasible with other steps.

    Args:
        text: the model's output.
        object_names: names of the objects now in the scene (unique, non-empty, never "table").
        max_steps: longest plan accepted, >= 1.
        skills: skills accepted, a non-empty subset of ``SKILLS``; the default matches
            ``plan_schema`` and ``build_prompt`` (pass ``SKILLS`` to accept push too).

    Returns:
        A ``PlanCheck``; its ``actions`` can be passed to ``env.step`` one by one.

    Raises:
        ValueError: only for bad ``object_names``, ``max_steps`` or ``skills`` (the caller's bug).
    """
    names, skills = _check_names(object_names), _check_skills(skills)
    _check_max_steps(max_steps)
    if not isinstance(text, str):
        return _reject(f"the output must be text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        return _reject(f"the output is {len(text)} characters long; a plan must fit in {MAX_TEXT_CHARS}")
    value, reason = _first_json(text)
    if reason:
        return _reject(reason)
    steps, reason = _steps(value, max_steps)
    if reason:
        return _reject(reason)
    actions = []
    for number, step in enumerate(steps, start=1):
        action, reason = _check_action(step, names, skills)
        if not reason and action["skill"] == "declare_infeasible" and len(steps) > 1:
            reason = 'declare_infeasible must be the whole plan: {"plan": [{"skill": "declare_infeasible"}]}'
        if reason:
            return _reject(f"step {number}: {reason}")
        actions.append(action)
    return PlanCheck(True, tuple(actions), "")


def _reject(reason: str) -> PlanCheck:
    return PlanCheck(False, (), reason)


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """``object_pairs_hook``: JSON allows repeated keys (the last wins); a plan must not have them."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _RepeatedKey(f"the key {_show(repeated)} appears twice in one object; give each key once")
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _first_json(text: str) -> tuple[object, str]:
    """The first plan-like JSON value in ``text`` (else the first JSON value), or a reason."""
    first: tuple[object, str] | None = None
    for start, match in enumerate(_JSON_START.finditer(text)):
        if start == _MAX_STARTS:
            break
        try:
            value, _ = _DECODER.raw_decode(text, match.start())
        except _RepeatedKey as error:
            found = (None, str(error))
        except json.JSONDecodeError as error:
            found = (None, _decode_reason(error, len(text)))
        except RecursionError:
            found = (None, "the JSON is nested too deeply to read; a plan is a flat list of actions")
        except ValueError:  # an integer literal longer than Python's int_max_str_digits
            found = (None, "the JSON holds a number too long to read")
        else:
            if _looks_like_plan(value):
                return value, ""
            found = (value, "")
        first = first or found
    if first is None:
        return None, f"no JSON found; answer with {_EXAMPLE}"
    return first


def _decode_reason(error: json.JSONDecodeError, length: int) -> str:
    if error.pos >= length - 1 or error.msg.startswith("Unterminated"):
        where = "" if error.msg.endswith(" at") else " at"  # "Unterminated string starting at"
        return (f"the JSON is cut off before it ends ({error.msg}{where} character {error.pos}); close every list, "
                "object and string")
    near = error.doc[max(0, error.pos - 15):error.pos + 15]
    return f"the JSON is malformed at character {error.pos} near {_show(near)}: {error.msg}"


def _looks_like_plan(value: object) -> bool:
    if isinstance(value, dict):
        return "plan" in value
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _steps(value: object, max_steps: int) -> tuple[list, str]:
    """The list of steps in a decoded value, or a reason."""
    if isinstance(value, dict):
        if "plan" not in value:
            return [], f"the JSON object has no 'plan' key; answer with {_EXAMPLE}"
        value = value["plan"]
    if not isinstance(value, list):
        return [], f"'plan' must be a list of actions, got {_show(value)}"
    if not value:
        return [], "the plan is empty; give at least one action, or declare_infeasible"
    if len(value) > max_steps:
        return [], f"the plan has {len(value)} steps; at most {max_steps} are allowed"
    return value, ""


def _check_action(step: object, names: list[str], skills: tuple[str, ...]) -> tuple[dict, str]:
    """One step as a normalised env action, or a reason (without the step number)."""
    if not isinstance(step, dict):
        return {}, f"each step must be an object such as {{\"skill\": \"pick_place\", ...}}, got {_show(step)}"
    skill = step.get("skill")
    if not isinstance(skill, str) or skill not in skills:
        what = ("has no 'skill'" if "skill" not in step else f"{_show(skill)} is not offered here"
                if skill in SKILLS else f"{_show(skill)} is not a skill")
        return {}, f"{what}; use one of {', '.join(skills)}"
    extra = [k for k in step if k not in _KEYS[skill]]
    if extra:
        return {}, f"{skill} does not take {_show(extra[0])}; its keys are {', '.join(_KEYS[skill])}"
    if skill == "declare_infeasible":
        return {"skill": skill}, ""
    obj, reason = _name(step, "object", names)
    if reason:
        return {}, reason
    if skill == "pick_place":
        target, reason = _name(step, "target", names)
        if not reason and target == obj:
            reason = f"cannot place {obj} on itself; choose another object or 'table' as target"
        action = {"skill": skill, "object": obj, "target": target}
        for key in ("dx", "dy"):
            if not reason:
                action[key], reason = _number(step.get(key, 0.0), skill, key, -WORKSPACE_HALF, WORKSPACE_HALF)
        return ({}, reason) if reason else (action, "")
    direction, reason = _direction(step)
    if reason:
        return {}, reason
    if "distance" not in step:
        return {}, f"push needs 'distance', a number in [0, {MAX_PUSH_DISTANCE}] (metres)"
    distance, reason = _number(step["distance"], skill, "distance", 0.0, MAX_PUSH_DISTANCE)
    return ({}, reason) if reason else ({"skill": skill, "object": obj, "direction": direction,
                                         "distance": distance}, "")


def _name(step: dict, key: str, names: list[str]) -> tuple[str, str]:
    """``step[key]`` as an object name (``key="target"`` also takes "table"), or a reason."""
    allowed = f"{', '.join(names)}" + (" or table" if key == "target" else "")
    if key not in step:
        return "", f"{step['skill']} needs '{key}', one of {allowed}"
    value = step[key]
    if key == "target" and value == TABLE:
        return TABLE, ""
    if isinstance(value, str) and value in names:
        return value, ""
    if value == TABLE:
        return "", f"the table cannot be moved; 'object' must be one of {allowed}"
    if not isinstance(value, str):
        return "", f"'{key}' must be a name (a string), one of {allowed}; got {_show(value)}"
    return "", f"{_show(value)} is not in the scene; {key} must be one of {allowed}"


def _number(value: object, skill: str, key: str, low: float, high: float) -> tuple[float, str]:
    """A JSON number in [low, high] as a float, or a reason."""
    allowed = f"allowed [{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0, f"{skill} '{key}' must be a number, {allowed}; got {_show(value)}"
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        number = math.inf
    if not math.isfinite(number):
        return 0.0, f"{skill} '{key}' must be a finite number, {allowed}; got {_show(value)}"
    if not low <= number <= high:
        return 0.0, f"{skill} '{key}'={_show(value)} is out of range; {allowed}"
    return number, ""


def _direction(step: dict) -> tuple[float | str, str]:
    """A push direction: a direction word (lower-cased, as the env reads it) or degrees, or a reason."""
    words = ", ".join(sorted(DIRECTIONS))
    if "direction" not in step:
        return "", f"push needs 'direction': degrees in [-{MAX_DEGREES:g}, {MAX_DEGREES:g}] or one of {words}"
    value = step["direction"]
    if isinstance(value, str):
        word = value.strip().lower()
        if word in DIRECTIONS:
            return word, ""
        return "", f"{_show(value)} is not a direction; use degrees (a number) or one of {words}"
    return _number(value, "push", "direction", -MAX_DEGREES, MAX_DEGREES)


def _show(value: object) -> str:
    """A short repr of model-made data (bounded length and depth, so never slow or deep)."""
    return _repr.repr(value)


def _check_names(object_names: Sequence[str]) -> list[str]:
    names = list(object_names) if isinstance(object_names, (list, tuple)) else None
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"object_names must be a non-empty list of non-empty strings, got {object_names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"object_names must be unique, got {names}")
    if TABLE in names:
        raise ValueError(f"no object may be named {TABLE!r} (it is the table target), got {names}")
    return names


def _check_skills(skills: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(skills) if isinstance(skills, (list, tuple)) else ()
    if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(SKILLS):
        raise ValueError(f"skills must be a non-empty list of distinct skills from {list(SKILLS)}, got {skills!r}")
    return chosen


def _check_max_steps(max_steps: int) -> None:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1, got max_steps={max_steps!r}")


def action_text(action: dict) -> str:
    """A normalised action as a short call, for history and feedback lines.

    ``pick_place(red_cube, blue_cube)``, ``pick_place(red_cube, table, dx=0.1, dy=-0.05)`` (offsets
    shown when not zero), ``push(red_cube, left, 0.05)``, ``declare_infeasible()``.

    Raises:
        ValueError: ``action`` is not a named action with its skill's required keys.
    """
    skill = action.get("skill") if isinstance(action, dict) else None
    required = SKILL_SCHEMA[skill]["required"] if skill in SKILL_SCHEMA else None
    if required is None or not all(k in action for k in required):
        raise ValueError(f"action must be a named action (skill one of {list(SKILLS)}, with its required "
                         f"keys), got {action!r}")
    if skill == "declare_infeasible":
        return "declare_infeasible()"
    if skill == "push":
        return f"push({action['object']}, {action['direction']}, {action['distance']:g})"
    dx, dy = action.get("dx", 0.0), action.get("dy", 0.0)
    offset = f", dx={dx:g}, dy={dy:g}" if dx or dy else ""
    return f"pick_place({action['object']}, {action['target']}{offset})"


def plan_text(actions: Sequence[dict]) -> str:
    """Actions as ``"pick_place(a, b); pick_place(c, a)"`` (see ``action_text``)."""
    return "; ".join(action_text(a) for a in actions)


def check_preconditions(actions: Sequence[dict], below: dict[str, str | None]) -> tuple[int, str]:
    """Blocksworld's preconditions along a plan, tracked symbolically from ``below``.

    A ``pick_place`` needs its object clear (nothing rests on it) and, unless the target is the
    table, its target clear; then the object rests on the target. Other skills are not checked.
    A plan that breaks them is not physically impossible in MuJoCo (the gripper would lift a pile,
    or drop the object onto whatever tops the target), but it is never what a plan means, and a
    learned world model cannot be trusted to know it (PlanBench's validator checks the same).

    Args:
        actions: normalised actions (``parse_plan``).
        below: object -> the object it rests on, ``None`` on the table (``tasks.symbolic_state``).

    Returns:
        ``(len(actions), "")`` when every step holds, else the index of the first step that does
        not and the reason, e.g. ``"red_cube has blue_cube on it: move blue_cube first"``.
    """
    below = dict(below)
    for k, action in enumerate(actions):
        if action.get("skill") != "pick_place":
            continue
        obj, target = action["object"], action["target"]
        for name in (obj,) if target == TABLE else (obj, target):
            # what rests on it, but the moving object (which may rest on its target already)
            above = next((o for o, under in below.items() if under == name and o != obj), None)
            if above is not None:
                return k, f"{name} has {above} on it: move {above} first"
        below[obj] = None if target == TABLE else target
    return len(actions), ""
