"""Prompts for a small base (completion) model: the scene in words, worked examples, feedback.

Gemma 3 270M is a base model: it continues text rather than follows instructions. So the prompt
is a page of worked cases in one fixed format, and the current case in the same format ending
right after ``Plan:``; the model's continuation is the plan's JSON on one line (stop at
``PLAN_STOP``). No trailing space: Gemma's tokenizer merges a space into the next token (``▁{``), so
a prompt ending in a bare space token is off the model's distribution, and greedy decoding then ended
at once with a newline on BlockStack scenes, where without it it wrote ``{"plan": [...]}``. The examples' scene texts are written by ``describe_scene`` itself, so the
format the model copies is exactly the one it is asked about. They teach the physics the
planner needs: nothing rests on a ball, so balls go last (on top); wide, heavy, flat objects go
at the bottom; a blocker is moved to a free table spot first; a goal that needs something on a
ball is declared infeasible; a note from the world model is heeded.

A case reads::

    Scene:
    Objects (perceived properties):
    - red_cube: red cube, 5.0 cm wide, 5.0 cm tall, 0.30 kg, flat top
    ...
    Resting: red_cube is on the table; ...
    Clear (nothing on top): red_cube, ...
    Task: Put the red cube on the blue plate.
    Done so far: nothing
    Notes: none
    Plan: {"plan": [...]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from ..envs.blockstack.skills import SKILL_SCHEMA
from .plans import PLAN_SKILLS, SKILLS, PlanCheck, action_text

PLAN_STOP = "\n"
"""Stop sequence for the completion: a plan is one line of JSON."""
PROPERTY_MODES = ("perceived", "true", "none")
"""``describe_scene`` modes: estimates from perception, the simulator's values, or names only."""
MAX_GRAPH_SENTENCES = 8
"""Causal-graph edges described, strongest first; more crowd a small model's context for little."""
_MODE_HEADINGS = {"perceived": "Objects (perceived properties):", "true": "Objects (true properties):",
                  "none": "Objects:"}
_EDGE_VERBS = {"support": "holds up", "contact": "pushes", "break": "breaks"}


def describe_scene(objects: Sequence, object_names: Sequence[str], on: np.ndarray, on_table: np.ndarray,
                   properties: str = "perceived", graph=None) -> str:
    """The scene as text: objects with their properties, what rests on what, what is clear.

    Args:
        objects: one entry per name: an ``ObjectSpec``, a mapping with any of ``shape``,
            ``color``, ``size`` (half-extents in metres, ``ObjectSpec``'s convention), ``mass``
            (kg), or None when nothing is known. Missing properties are left out of the text.
        object_names: the names, in the row order of ``on`` and ``on_table``.
        on: ``(N, N)`` bool, ``on[a, b]`` = a rests on b (``physics.support_matrix``).
        on_table: ``(N,)`` bool, the object touches the table.
        properties: "perceived" (estimates, the default), "true" (the simulator's values) or
            "none" (names only: the physics-blind ablation).
        graph: optional causal graph (``networkx.DiGraph``, nodes object names and "agent",
            edge attributes ``p`` or ``weight`` and ``kind``); its strongest edges become
            sentences such as "blue_plate holds up red_cube (p = 0.92)".

    Returns:
        Several lines of text, no trailing newline.
    """
    names = list(object_names)
    n = len(names)
    on, on_table = np.asarray(on, dtype=bool), np.asarray(on_table, dtype=bool)
    if len(objects) != n or on.shape != (n, n) or on_table.shape != (n,):
        raise ValueError(f"describe_scene needs one object per name and on (N, N), on_table (N,) with N={n}; "
                         f"got {len(objects)} objects, on {on.shape}, on_table {on_table.shape}")
    if properties not in PROPERTY_MODES:
        raise ValueError(f"properties must be one of {PROPERTY_MODES}, got properties={properties!r}")
    lines = [_MODE_HEADINGS[properties]]
    lines += [f"- {name}: {_object_words(obj, properties)}" for name, obj in zip(names, objects, strict=True)]
    resting = []
    for a, name in enumerate(names):
        supports = [names[b] for b in np.flatnonzero(on[a])]  # rows follow names
        where = " and ".join(supports) if supports else ("the table" if on_table[a] else None)
        resting.append(f"{name} is on {where}" if where else f"{name} rests on nothing (held or falling)")
    lines.append("Resting: " + "; ".join(resting))
    clear = [name for b, name in enumerate(names) if not on[:, b].any()]
    lines.append("Clear (nothing on top): " + (", ".join(clear) if clear else "none"))
    if graph is not None:
        lines.append("Learned causal links: " + _graph_sentences(graph, names))
    return "\n".join(lines)


def _field(obj, key: str):
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _object_words(obj, properties: str) -> str:
    """"red cube, 5.0 cm wide, 5.0 cm tall, 0.30 kg, flat top" from what is known."""
    shape, color = _field(obj, "shape"), _field(obj, "color")
    words = [" ".join(w for w in (color, shape) if w) or "unknown object"]
    size, mass = _field(obj, "size"), _field(obj, "mass")
    if properties != "none":
        if size is not None and shape is not None:
            words += _size_words(shape, [float(s) for s in size])
        if mass is not None:
            words.append(f"{float(mass):.2f} kg")
    if shape is not None:
        words.append("round top" if shape == "ball" else "flat top")
    return ", ".join(words)


def _size_words(shape: str, size: list[float]) -> list[str]:
    """Width and height in centimetres from ``ObjectSpec`` half-extents (metres)."""
    cm = [200.0 * s for s in size]  # half-extent (m) -> full extent (cm)
    if shape == "ball":
        return [f"{cm[0]:.1f} cm across"]
    if shape == "domino" and len(cm) == 3:
        return [f"{cm[1]:.1f} cm wide", f"{cm[0]:.1f} cm thick", f"{cm[2]:.1f} cm tall"]
    if shape == "cube":
        return [f"{cm[0]:.1f} cm wide", f"{cm[0]:.1f} cm tall"]
    if shape in ("cylinder", "glass", "plate") and len(cm) == 2:
        return [f"{cm[0]:.1f} cm wide", f"{cm[1]:.1f} cm tall"]
    return []  # a shape stacking never meets (a ramp): no size words


def _graph_sentences(graph, names: list[str]) -> str:
    known = {*names, "agent"}
    edges = []
    for u, v, attrs in graph.edges(data=True):
        if u in known and v in known:
            strength = attrs.get("p", attrs.get("weight"))
            edges.append((-(float(strength) if strength is not None else 0.0), str(u), str(v), attrs))
    if not edges:
        return "none"
    sentences = []
    for _, u, v, attrs in sorted(edges)[:MAX_GRAPH_SENTENCES]:
        verb = _EDGE_VERBS.get(attrs.get("kind"), "moves")
        p = f" (p = {float(attrs['p']):.2f})" if attrs.get("p") is not None else ""
        sentences.append(f"{'the gripper' if u == 'agent' else u} {verb} {'the gripper' if v == 'agent' else v}{p}")
    return "; ".join(sentences)


def _skill_lines(skills: Sequence[str]) -> list[str]:
    """One line per skill from the env's schema, so the prompt cannot drift from what the env takes."""
    lines = []
    for skill in skills:
        spec = SKILL_SCHEMA[skill]
        params = "; ".join(f"{k}: {p['description']}" for k, p in spec["params"].items())
        lines.append(f"- {skill}: {spec['description'].split('.')[0]}." + (f" Keys: {params}." if params else ""))
    return lines


def _case(scene_text: str, instruction: str, history: Sequence[str], feedback: Sequence[str]) -> str:
    done = "; ".join(history) if history else "nothing"
    notes = " none" if not feedback else "".join(f"\n- {f}" for f in feedback)
    return f"Scene:\n{scene_text}\nTask: {instruction}\nDone so far: {done}\nNotes:{notes}\nPlan:"


def _example_scene(objects: dict[str, dict], rests_on: dict[str, str]) -> str:
    names = list(objects)
    on = np.zeros((len(names), len(names)), dtype=bool)
    for a, b in rests_on.items():
        on[names.index(a), names.index(b)] = True
    on_table = ~on.any(axis=1)
    return describe_scene(list(objects.values()), names, on, on_table)


def _pick(obj: str, target: str, dx: float | None = None, dy: float | None = None) -> dict:
    action = {"skill": "pick_place", "object": obj, "target": target}
    return action | ({"dx": dx, "dy": dy} if dx is not None else {})


def _examples() -> list[tuple[str, dict]]:
    """Worked cases (prompt text up to 'Plan:', plan) that teach the stacking physics."""
    tower = {"green_ball": {"shape": "ball", "color": "green", "size": (0.03,), "mass": 0.12},
             "red_cube": {"shape": "cube", "color": "red", "size": (0.025,), "mass": 0.3},
             "blue_plate": {"shape": "plate", "color": "blue", "size": (0.08, 0.008), "mass": 0.7}}
    ball_goal = {"white_cylinder": {"shape": "cylinder", "color": "white", "size": (0.03, 0.03), "mass": 0.25},
                 "yellow_ball": {"shape": "ball", "color": "yellow", "size": (0.035,), "mass": 0.15}}
    noted = {"purple_cube": {"shape": "cube", "color": "purple", "size": (0.03,), "mass": 0.5},
             "orange_cylinder": {"shape": "cylinder", "color": "orange", "size": (0.025, 0.035), "mass": 0.2},
             "pink_ball": {"shape": "ball", "color": "pink", "size": (0.025,), "mass": 0.1}}
    # the short declare_infeasible case first: a small model leans towards the most recent examples
    return [
        (_case(_example_scene(ball_goal, {}), "Put the white cylinder on the yellow ball.", (), ()),
         {"plan": [{"skill": "declare_infeasible"}]}),
        (_case(_example_scene(tower, {"green_ball": "red_cube"}), "Build a tower three objects tall.", (), ()),
         {"plan": [_pick("green_ball", "table", 0.15, -0.1), _pick("red_cube", "blue_plate"),
                   _pick("green_ball", "red_cube")]}),
        (_case(_example_scene(noted, {"orange_cylinder": "purple_cube"}),
               "Stack the orange cylinder on the purple cube and the pink ball on the orange cylinder.",
               [action_text(_pick("orange_cylinder", "purple_cube"))],
               [f"a plan was rejected: {action_text(_pick('pink_ball', 'orange_cylinder', 0.03, 0.0))}: the world "
                "model predicts pink_ball falls off orange_cylinder (p = 0.85)"]),
         {"plan": [_pick("pink_ball", "orange_cylinder")]}),
    ]


def build_prompt(instruction: str, scene_text: str, history: Sequence[str] = (), feedback: Sequence[str] = (),
                 skills: Sequence[str] = PLAN_SKILLS) -> str:
    """A few-shot completion prompt ending right after ``Plan:`` (the model writes " {...}").

    Args:
        instruction: the episode's task in English.
        scene_text: ``describe_scene``'s text for the current observation.
        history: actions executed so far this episode (``action_text`` lines).
        feedback: reasons from rejected or imagined-failed plans (``feedback_for_rejection``, or
            "the world model predicts red_cube falls off blue_ball (p = 0.90)"), listed under Notes.
        skills: the skills described in the header (a subset of ``SKILLS``); match ``plan_schema``.

    Returns:
        The prompt; complete it with stop ``PLAN_STOP`` and read it with ``parse_plan``.
    """
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError(f"instruction must be non-empty text, got {instruction!r}")
    if not isinstance(scene_text, str) or not scene_text.strip():
        raise ValueError(f"scene_text must be non-empty text (describe_scene), got {scene_text!r}")
    for label, lines in (("history", history), ("feedback", feedback)):
        if isinstance(lines, str) or not all(isinstance(line, str) for line in lines):
            raise ValueError(f"{label} must be a list of strings, got {lines!r}")
    if not skills or not set(skills) <= set(SKILLS):
        raise ValueError(f"skills must be a non-empty subset of {list(SKILLS)}, got {skills!r}")
    header = ["Plans for a robot arm that stacks objects on a table. Each plan is JSON on one line.",
              "Skills:", *_skill_lines(skills)]
    worked = [f"{case} {json.dumps(plan)}\n" for case, plan in _examples()]
    current = _case(scene_text.strip(), " ".join(instruction.split()), [" ".join(h.split()) for h in history],
                    [" ".join(f.split()) for f in feedback])
    return "\n".join(header) + "\n\n" + "\n".join(worked) + "\n" + current


def feedback_for_rejection(check: PlanCheck) -> str:
    """The Notes line for a rejected plan: "a plan was rejected: <reason>".

    Raises:
        ValueError: ``check`` accepted its plan (there is nothing to feed back).
    """
    if not isinstance(check, PlanCheck) or check.ok:
        raise ValueError(f"feedback_for_rejection needs a rejected PlanCheck, got {check!r}")
    return f"a plan was rejected: {check.reason}"

