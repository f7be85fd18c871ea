"""CLEVRER-style questions and answers about a passive scenario episode, true by construction.

Every answer is read off the simulator: the factual rollout of the episode from its start
(``env.ground_truth(but_for=False)``: its contact recorder and direct causal graph) or, for
counterfactual questions, a re-simulation under a do()-intervention (``env.counterfactual``).
Four types, as in CLEVRER (Yi et al., 2020):

- descriptive: what happened (contacts, counts, breaks, shapes, what is moving at the end);
- explanatory: why, from the direct graph (break edges; the first contact that set a resting
  object moving; the object that interrupted a fall, changing the faller's velocity visibly; and
  *time-respecting* chains of direct edges: "is C responsible for the collision between A and B"
  means such a chain carried C's influence to A or B before they met);
- predictive: the video is cut at ``observe_until_frame``, before the agent meets the patient;
  will a contact or break happen later?
- counterfactual: what if an object were removed, heavier or lighter, faster or slower, more or
  less fragile (values at the property space's bounds, speeds within ``MAX_SPEED``)?

Objects are named by colour and shape (``envs.sim.captions.object_phrase``); only objects whose
colour and shape are unique in the scene are asked about. Contacts that begin in the first
``SETTING_STEPS`` physics steps (a ball set on a ramp) are the setting, not collisions.
Yes/no questions are drawn to balance the two answers where the episode allows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..scenarios.base import ScenarioEnv
from ..sim.captions import SETTING_STEPS, object_phrase
from ..sim.ground_truth import visible_velocity_change
from ..sim.interventions import MAX_SPEED
from ..sim.passive import FRAME_SUBSTEPS, Rollout
from ..sim.scene import ObjectSpec

QUESTION_TYPES = ("descriptive", "explanatory", "predictive", "counterfactual")
MOVING_SPEED = 0.02  # m/s at the last frame: visibly moving (0.8 mm per 40 ms frame)
STILL_SPEED = 0.004  # m/s: visibly at rest; speeds in between are too close to call and not asked
REST_DISPLACEMENT = 0.002  # m an object may settle at the start and still count as at rest
AIRBORNE = 0.005  # m above its resting height on the table: an object this high is falling, not standing
PREDICT_CUTOFF = (4, 9)  # frames: range of the predictive video cut-off (canonical: the low end)

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "touch": ("Does {a} touch {b}?", "Do {a} and {b} touch?", "Is there any contact between {a} and {b}?"),
    "count": ("How many objects does {a} touch?", "How many objects does {a} come into contact with?",
              "How many other objects touch {a}?"),
    "first_hit_color": ("What colour is the first object {a} hits?", "What colour is the object {a} hits first?",
                        "Which colour does the first object that {a} collides with have?"),
    "breaks": ("Does {a} break?", "Does {a} shatter?", "Is {a} broken at the end?"),
    "shape": ("What shape is the {color} object?", "What is the shape of the {color} object?",
              "Which shape does the {color} object have?"),
    "moving": ("Is {a} moving at the end?", "Is {a} still moving when the video ends?",
               "At the end of the video, is {a} in motion?"),
    "which_moving": ("Which object is moving at the end?", "Which object is still moving when the video ends?",
                     "At the end of the video, which object is in motion?"),
    "break_cause": ("What caused {a} to break?", "Which object breaks {a}?", "What is responsible for {a} breaking?"),
    "breaks_fall": ("Which object breaks the fall of {a}?", "Which object interrupts the fall of {a}?",
                    "What does {a} hit while falling?"),
    "first_mover": ("Which object made {a} move?", "Which object sets {a} in motion?",
                    "What is responsible for {a} starting to move?"),
    "responsible": ("Is {c} responsible for the collision between {a} and {b}?",
                    "Does {c} cause the collision between {a} and {b}?",
                    "Is {c} part of what leads {a} and {b} to collide?"),
    "will_touch": ("Will {a} hit {b}?", "Will {a} and {b} collide?", "Is {a} going to touch {b}?"),
    "will_break": ("Will {a} break?", "Is {a} going to shatter?", "Will {a} break later on?"),
    "would_touch": ("would {a} hit {b}?", "would {a} and {b} collide?", "would {a} touch {b}?"),
    "would_break": ("would {a} break?", "would {a} shatter?", "would {a} still end up broken?"),
    "remove": ("What if {x} were removed? {Q}", "If {x} were removed, {q}", "Without {x}, {q}"),
    "heavier": ("What if {x} were heavier? {Q}", "If {x} were heavier, {q}", "Suppose {x} weighed more: {q}"),
    "lighter": ("What if {x} were lighter? {Q}", "If {x} were lighter, {q}", "Suppose {x} weighed less: {q}"),
    "faster": ("What if {x} started 50% faster? {Q}", "If {x} started moving 50% faster, {q}",
               "Suppose {x} were sent off 50% faster: {q}"),
    "slower": ("What if {x} started at half its speed? {Q}", "If {x} started moving half as fast, {q}",
               "Suppose {x} were sent off at half its speed: {q}"),
    "sturdier": ("What if {x} were sturdier? {Q}", "If {x} were harder to break, {q}",
                 "Suppose {x} were less fragile: {q}"),
    "more_fragile": ("What if {x} were more fragile? {Q}", "If {x} were easier to break, {q}",
                     "Suppose {x} broke more easily: {q}"),
}


def questions(env: ScenarioEnv, rng: np.random.Generator | None = None, counterfactual: bool = True,
              max_per_type: int = 4) -> list[dict]:
    """Question-answer pairs about the episode ``env`` was last reset to, from its start.

    Mid-episode interventions are ignored: the questions are about the factual rollout from
    ``env.initial_objects`` and ``env.initial_velocities`` over ``env.horizon`` frames (one
    simulation), plus one re-simulation per counterfactual question.

    Args:
        env: a reset ``ScenarioEnv`` (or a gymnasium wrapper of one).
        rng: draws which questions are asked and their paraphrases; canonical (first template,
            first candidates) when None.
        counterfactual: also ask counterfactual questions (each costs one rollout).
        max_per_type: at most this many questions of each type.

    Returns:
        JSON-serialisable dicts with ``type`` (one of ``QUESTION_TYPES``), ``question``,
        ``answer`` (a string: "yes"/"no", an object phrase, a count, a colour or shape word),
        ``answer_type`` ("yes_no", "object", "count", "color", "shape"), ``program``
        (``{"op": ..., "args": [object names]}``), ``objects`` (names involved), ``choices``
        (except for counts), ``observe_until_frame`` (predictive) and ``intervention`` (the
        dict passed to ``env.counterfactual``; counterfactual).
    """
    if max_per_type < 1:
        raise ValueError(f"max_per_type must be >= 1, got max_per_type={max_per_type}")
    env = getattr(env, "unwrapped", env)
    if not getattr(env, "initial_objects", None):
        raise RuntimeError("call reset() before asking questions about an episode")
    episode = _episode(env)
    items = _select(_descriptive(episode, rng), max_per_type, rng)
    items += _select(_explanatory(episode, rng), max_per_type, rng)
    items += _select(_predictive(episode, rng), max_per_type, rng)
    if counterfactual:
        items += _counterfactual(episode, rng, max_per_type)
    return items


# ---------------------------------------------------------------------------- the episode


@dataclass
class _Episode:
    """The factual rollout and how to speak about it."""

    env: ScenarioEnv
    objects: dict[str, ObjectSpec]  # by name, as the episode started
    phrase: dict[str, str]  # referable objects only (unique colour and shape), in scene order
    rollout: Rollout
    direct: nx.DiGraph
    agent: str
    patient: str

    def contact_step(self, a: str, b: str) -> int:
        """First physics step at which ``a`` touched ``b`` (-1: never)."""
        names = self.rollout.names
        return int(self.rollout.recorder.t_first[names.index(a), names.index(b)])

    def break_step(self, name: str) -> int:
        """Physics step at which ``name`` broke (-1: never)."""
        k = self.rollout.names.index(name)
        return next((int(step) for _, broken, step, _ in self.rollout.recorder.breaks if broken == k), -1)

    def pairs(self) -> list[tuple[str, str]]:
        names = list(self.phrase)
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]

    def object_choices(self, exclude: tuple[str, ...] = ()) -> list[str]:
        return [p for n, p in self.phrase.items() if n not in exclude]


def _episode(env: ScenarioEnv) -> _Episode:
    truth = env.ground_truth(but_for=False)
    objects = {o.name: o for o in env.initial_objects}
    looks = [(o.color, o.shape) for o in objects.values()]
    phrase = {n: object_phrase(o, env.space) for n, o in objects.items() if looks.count((o.color, o.shape)) == 1}
    return _Episode(env, objects, phrase, truth["factual"], truth["direct"], env.agent_name, env.patient_name)


# ---------------------------------------------------------------------------- building items


def _pick(key: str, rng: np.random.Generator | None) -> str:
    options = _TEMPLATES[key]
    return options[0] if rng is None else options[int(rng.integers(len(options)))]


def _say(key: str, rng: np.random.Generator | None, **fields: str) -> str:
    text = _pick(key, rng).format(**fields)
    return text[0].upper() + text[1:]


def _item(kind: str, question: str, answer: str | bool | int, answer_type: str, op: str, args: list[str],
          choices: list[str] | None = None, **extra) -> dict:
    if isinstance(answer, bool | np.bool_):
        answer, choices = ("yes" if answer else "no"), ["yes", "no"]
    item = {"type": kind, "question": question, "answer": str(answer), "answer_type": answer_type,
            "program": {"op": op, "args": list(args)}, "objects": sorted(set(args))}
    if choices is not None:
        item["choices"] = list(choices)
    item.update(extra)
    return item


def _shuffled(items: list, rng: np.random.Generator | None) -> list:
    return list(items) if rng is None else [items[i] for i in rng.permutation(len(items))]


def _paired(items: list[dict], rng: np.random.Generator | None) -> list[dict]:
    """As many "yes" as "no" items (a random subset of the larger side): for families whose
    answer is almost always the same ("does this distractor touch that one?")."""
    items = _shuffled(items, rng)
    yes, no = [it for it in items if it["answer"] == "yes"], [it for it in items if it["answer"] == "no"]
    n = min(len(yes), len(no))
    keep = {id(it) for it in yes[:n] + no[:n]}
    return [it for it in items if id(it) in keep or it["answer"] not in ("yes", "no")]


def _balanced(answers: list[str], counts: dict[str, int], prefer: str) -> int | None:
    """Index of the first answer that keeps the yes and no counts at most one apart (any answer
    that is not yes/no does): with a tie, the first ``prefer`` if any, else the first."""
    tie = counts["yes"] == counts["no"]
    wanted = prefer if tie else min(counts, key=counts.get)
    index = next((i for i, a in enumerate(answers) if a == wanted or a not in counts), None)
    return 0 if index is None and tie and answers else index


def _select(families: list[list[dict]], k: int, rng: np.random.Generator | None) -> list[dict]:
    """Up to ``k`` items, one family at a time in turn (in random order), never letting the yes
    and no answers drift more than one apart (so a family of only "no" waits for a "yes")."""
    families = [_shuffled(f, rng) for f in _shuffled([f for f in families if f], rng)]
    prefer = "yes" if rng is None or rng.random() < 0.5 else "no"  # which answer a tie leans to
    chosen: list[dict] = []
    counts = {"yes": 0, "no": 0}
    progress = True
    while progress and len(chosen) < k:
        progress = False
        for family in families:
            index = _balanced([it["answer"] for it in family], counts, prefer) if len(chosen) < k else None
            if index is not None:
                chosen.append(family.pop(index))
                if chosen[-1]["answer"] in counts:
                    counts[chosen[-1]["answer"]] += 1
                progress = True
    return chosen


def _speeds_at_end(ep: _Episode) -> dict[str, float]:
    """Speed (m/s) over the last frame of each referable object that can move and is whole."""
    dt = 1.0 / ep.env.metadata["render_fps"]
    positions, names = ep.rollout.positions, ep.rollout.names
    speed = np.linalg.norm(positions[-1] - positions[-2], axis=-1) / dt  # (N,)
    return {n: float(speed[names.index(n)]) for n in ep.phrase
            if not ep.objects[n].frozen and not ep.rollout.broken[names.index(n)]}


# ---------------------------------------------------------------------------- descriptive


def _descriptive(ep: _Episode, rng: np.random.Generator | None) -> list[list[dict]]:
    """Families of descriptive questions (each family a list of candidates)."""
    kind, ph = "descriptive", ep.phrase
    touch = [_item(kind, _say("touch", rng, a=ph[a], b=ph[b]), ep.contact_step(a, b) >= 0, "yes_no", "touch", [a, b])
             for a, b in ep.pairs()]
    breaks = [_item(kind, _say("breaks", rng, a=ph[n]), bool(ep.rollout.broken[ep.rollout.names.index(n)]), "yes_no",
                    "breaks", [n]) for n in ph if ep.objects[n].fragile]
    colors = [o.color for o in ep.objects.values()]
    shapes = sorted({o.shape for o in ep.objects.values()})
    shape = [_item(kind, _say("shape", rng, color=o.color), o.shape, "shape", "shape", [n], shapes)
             for n, o in ep.objects.items() if colors.count(o.color) == 1]
    speeds = _speeds_at_end(ep)
    moving = [_item(kind, _say("moving", rng, a=ph[n]), s > MOVING_SPEED, "yes_no", "moving_at_end", [n])
              for n, s in speeds.items() if s > MOVING_SPEED or s < STILL_SPEED]
    return [_paired(touch, rng), breaks, shape, _paired(moving, rng), _counts(ep, rng), _first_hit(ep, rng),
            _which_moving(ep, speeds, rng)]


def _counts(ep: _Episode, rng: np.random.Generator | None) -> list[dict]:
    names, t_first = ep.rollout.names, ep.rollout.recorder.t_first
    out = []
    for n in (ep.agent, ep.patient):
        if n in ep.phrase:
            count = int(np.count_nonzero(t_first[names.index(n)] >= 0))
            out.append(_item("descriptive", _say("count", rng, a=ep.phrase[n]), count, "count", "count_touched", [n]))
    return out


def _first_hit(ep: _Episode, rng: np.random.Generator | None) -> list[dict]:
    """The colour of the first object the agent collides with (after the setting), if unique."""
    steps = {n: ep.contact_step(ep.agent, n) for n in ep.objects if n != ep.agent}
    hits = {n: t for n, t in steps.items() if t > SETTING_STEPS}
    if ep.agent not in ep.phrase or not hits:
        return []
    first = min(hits.values())
    hit = [n for n, t in hits.items() if t == first]
    if len(hit) != 1:
        return []
    colors = sorted({o.color for o in ep.objects.values()})
    return [_item("descriptive", _say("first_hit_color", rng, a=ep.phrase[ep.agent]), ep.objects[hit[0]].color,
                  "color", "first_hit_color", [ep.agent, hit[0]], colors)]


def _which_moving(ep: _Episode, speeds: dict[str, float], rng: np.random.Generator | None) -> list[dict]:
    """Asked only when exactly one object is clearly moving and every other one is clearly still."""
    if ep.rollout.broken.any() or len(ep.phrase) < len(ep.objects):
        return []  # pieces of a broken object, or an object we cannot name, may be moving too
    moving = [n for n, s in speeds.items() if s > MOVING_SPEED]
    if len(moving) != 1 or any(MOVING_SPEED >= s >= STILL_SPEED for s in speeds.values()):
        return []
    return [_item("descriptive", _say("which_moving", rng), ep.phrase[moving[0]], "object", "which_moving_at_end",
                  moving, ep.object_choices())]


# ---------------------------------------------------------------------------- explanatory


def _arrivals(direct: nx.DiGraph, source: str) -> dict[str, int]:
    """Earliest physics step at which ``source``'s influence reaches each object along a
    time-respecting chain of direct edges (as ``ground_truth.temporal_closure``)."""
    arrival = {source: -1}
    changed = True
    while changed:
        changed = False
        for x, y, data in direct.edges(data=True):
            if x in arrival and arrival[x] <= data["t_last"]:
                t = max(arrival[x], data["t_first"])
                if y not in arrival or t < arrival[y]:
                    arrival[y], changed = t, True
    return arrival


def _explanatory(ep: _Episode, rng: np.random.Generator | None) -> list[list[dict]]:
    """Families of explanatory questions: break causes, first movers, responsibility."""
    kind, ph = "explanatory", ep.phrase
    causes = []
    for striker, broken, data in ep.direct.edges(data=True):
        if data["kind"] == "break" and striker in ph and broken in ph:
            causes.append(_item(kind, _say("break_cause", rng, a=ph[broken]), ph[striker], "object", "break_cause",
                                [broken, striker], ep.object_choices((broken,))))
    return [causes, _first_movers(ep, rng), _fall_breakers(ep, rng), _paired(_responsibility(ep, rng), rng)]


def _first_movers(ep: _Episode, rng: np.random.Generator | None) -> list[dict]:
    """Objects at rest until a contact edge set them moving: which object was it?"""
    out = []
    names, positions = ep.rollout.names, ep.rollout.positions
    for v in ep.phrase:
        launched = np.linalg.norm(ep.env.initial_velocities.get(v, np.zeros(3))[:3]) > 0
        edges = [(d["t_first"], u) for u, _, d in ep.direct.in_edges(v, data=True) if d["kind"] != "support"]
        if ep.objects[v].frozen or launched or not edges:
            continue
        t, cause = min(edges)
        still_until = (t - 1) // FRAME_SUBSTEPS  # the last frame before that contact
        track = positions[: still_until + 1, names.index(v)]
        at_rest = np.linalg.norm(track - track[0], axis=-1).max() < REST_DISPLACEMENT
        if t > SETTING_STEPS and at_rest and cause in ep.phrase and [s for s, _ in edges].count(t) == 1:
            out.append(_item("explanatory", _say("first_mover", rng, a=ep.phrase[v]), ep.phrase[cause], "object",
                             "first_mover", [v, cause], ep.object_choices((v,))))
    return out


def _fall_breakers(ep: _Episode, rng: np.random.Generator | None) -> list[dict]:
    """Objects whose fall another one interrupted: the first object the faller touched after the
    setting, while still in the air (above its resting height on the table), whose contact
    changed the faller's velocity visibly (a direct edge by the velocity-change rule)."""
    out = []
    names, positions, recorder = ep.rollout.names, ep.rollout.positions, ep.rollout.recorder
    visible = visible_velocity_change(recorder.objects)
    for v in (n for n in ep.phrase if not ep.objects[n].frozen):
        contacts = {n: t for n in ep.objects if n != v and (t := ep.contact_step(v, n)) > SETTING_STEPS}
        if not contacts:
            continue
        t = min(contacts.values())
        under = [n for n, step in contacts.items() if step == t]
        height = positions[(t - 1) // FRAME_SUBSTEPS, names.index(v), 2] - ep.objects[v].half_height
        if len(under) != 1 or under[0] not in ep.phrase or height <= AIRBORNE or not ep.direct.has_edge(under[0], v):
            continue
        if recorder.dv[names.index(under[0]), names.index(v)] > visible[names.index(v)]:
            out.append(_item("explanatory", _say("breaks_fall", rng, a=ep.phrase[v]), ep.phrase[under[0]], "object",
                             "breaks_fall", [v, under[0]], ep.object_choices((v,))))
    return out


def _responsibility(ep: _Episode, rng: np.random.Generator | None) -> list[dict]:
    """Is C responsible for the collision between A and B: did a chain of direct edges carry C's
    influence to A or B before they first touched?"""
    out = []
    arrivals = {c: _arrivals(ep.direct, c) for c in ep.phrase}
    for a, b in ep.pairs():
        t = ep.contact_step(a, b)
        if t <= SETTING_STEPS:
            continue
        for c in ep.phrase:
            reach = [arrivals[c].get(x, t + 1) for x in (a, b)]
            if c in (a, b) or t in reach:  # influence arriving with the collision itself: too close to call
                continue
            ph = ep.phrase
            out.append(_item("explanatory", _say("responsible", rng, c=ph[c], a=ph[a], b=ph[b]), min(reach) < t,
                             "yes_no", "responsible", [c, a, b]))
    return out


# ---------------------------------------------------------------------------- predictive


def _cutoff(ep: _Episode, rng: np.random.Generator | None) -> int | None:
    """The last frame shown: a few frames in, and at least one frame before the agent first touches
    the patient (None when that contact comes too early to show anything before it)."""
    cutoff = PREDICT_CUTOFF[0] if rng is None else int(rng.integers(PREDICT_CUTOFF[0], PREDICT_CUTOFF[1] + 1))
    t = ep.contact_step(ep.agent, ep.patient)
    if t >= 0:
        cutoff = min(cutoff, (t - 1) // FRAME_SUBSTEPS - 1)
    return cutoff if cutoff >= 1 else None


def _predictive(ep: _Episode, rng: np.random.Generator | None) -> list[list[dict]]:
    """Will-questions about events after the cut-off: contacts between pairs not yet touching,
    breaks of fragile objects still whole. The agent-patient question is its own family."""
    cutoff = _cutoff(ep, rng)
    if cutoff is None:
        return []
    unseen = (cutoff + 1) * FRAME_SUBSTEPS  # events from this step on are not in (or at the edge of) the video
    kind, ph, extra = "predictive", ep.phrase, {"observe_until_frame": cutoff}
    main, others = [], []
    for a, b in ep.pairs():
        t = ep.contact_step(a, b)
        if 0 <= t <= unseen:
            continue
        a, b = (b, a) if b == ep.agent or ep.objects[a].frozen else (a, b)  # the mover does the hitting
        family = main if {a, b} == {ep.agent, ep.patient} else others
        family.append(_item(kind, _say("will_touch", rng, a=ph[a], b=ph[b]), t >= 0, "yes_no", "touch", [a, b],
                            **extra))
    breaks = []
    for n in ph:
        t = ep.break_step(n)
        if ep.objects[n].fragile and not 0 <= t <= unseen:
            breaks.append(_item(kind, _say("will_break", rng, a=ph[n]), t >= 0, "yes_no", "breaks", [n], **extra))
    return [main, _paired(others, rng), breaks]


# ---------------------------------------------------------------------------- counterfactual


def _interventions(ep: _Episode) -> list[list[tuple[str, str, dict]]]:
    """Candidate interventions ``(clause, object, changes)`` by kind. Values sit at the property
    space's bounds, at least a third of the range away from the factual value."""
    env, ph = ep.env, ep.phrase
    remove = [("remove", x, {x: "remove"}) for x in ph if x not in (ep.agent, ep.patient)]
    mass, speed, fragility = [], [], []
    lo, hi = env.space.bounds("mass")
    for x in (n for n in (ep.agent, ep.patient) if n in ph and not ep.objects[n].frozen):
        if ep.objects[x].mass < hi - (hi - lo) / 3:
            mass.append(("heavier", x, {f"{x}.mass": float(hi)}))
        if ep.objects[x].mass > lo + (hi - lo) / 3:
            mass.append(("lighter", x, {f"{x}.mass": float(lo)}))
    for x, velocity in env.initial_velocities.items():
        linear = np.asarray(velocity[:3], dtype=float)
        if x in ph and np.linalg.norm(linear) > 0.05:
            if 1.5 * np.linalg.norm(linear) <= MAX_SPEED:
                speed.append(("faster", x, {f"{x}.velocity": (1.5 * linear).tolist()}))
            speed.append(("slower", x, {f"{x}.velocity": (0.5 * linear).tolist()}))
    if env.fragility_range is not None:
        lo, hi = env.fragility_range
        for x in (n for n in ph if ep.objects[n].fragile):
            if ep.objects[x].fragility < hi - (hi - lo) / 3:
                fragility.append(("sturdier", x, {f"{x}.fragility": float(hi)}))
            if ep.objects[x].fragility > lo + (hi - lo) / 3:
                fragility.append(("more_fragile", x, {f"{x}.fragility": float(lo)}))
    return [remove, mass, speed, fragility]


def _interleave(groups: list[list], rng: np.random.Generator | None) -> list:
    """Round-robin over the (shuffled) groups, each shuffled."""
    groups = [_shuffled(g, rng) for g in _shuffled([g for g in groups if g], rng)]
    out = []
    for rank in range(max((len(g) for g in groups), default=0)):
        out += [g[rank] for g in groups if rank < len(g)]
    return out


def _outcomes(ep: _Episode, clause: str, rollout: Rollout) -> list[tuple[str, list[str], bool]]:
    """What can be asked of a counterfactual rollout, ``(op, args, answer)``, most telling first:
    breaks when a property changed and something can break, then the agent-patient contact, then
    the agent's other contacts (not those it has from the start, as a ball set on a ramp)."""
    present = [n for n in ep.phrase if n in rollout.names]
    breaks = [("breaks", [n], bool(rollout.broken[rollout.names.index(n)]))
              for n in present if ep.objects[n].fragile]
    touches = [("touch", [ep.agent, n], rollout.touched(ep.agent, n)) for n in present
               if n != ep.agent and ep.agent in present and not 0 <= ep.contact_step(ep.agent, n) <= SETTING_STEPS]
    touches.sort(key=lambda q: q[1][1] != ep.patient)
    if clause in ("sturdier", "more_fragile"):
        return breaks
    return breaks + touches if clause != "remove" else touches[:1] + breaks + touches[1:]


def _counterfactual(ep: _Episode, rng: np.random.Generator | None, k: int) -> list[dict]:
    """Up to ``k`` what-if questions from at most ``2 k`` re-simulations; each asks about the most
    telling outcome that keeps the yes and no answers at most one apart."""
    items, counts = [], {"yes": 0, "no": 0}
    for clause, x, changes in _interleave(_interventions(ep), rng)[: 2 * k]:
        outcomes = _outcomes(ep, clause, ep.env.counterfactual(changes))
        index = _balanced(["yes" if answer else "no" for _, _, answer in outcomes], counts, "yes")
        if index is None:
            continue
        op, args, answer = outcomes[index]
        counts["yes" if answer else "no"] += 1
        fields = {"a": ep.phrase[args[0]]} if op == "breaks" else {"a": ep.phrase[args[0]], "b": ep.phrase[args[1]]}
        query = _pick("would_touch" if op == "touch" else "would_break", rng).format(**fields)
        question = _say(clause, rng, x=ep.phrase[x], q=query, Q=query[0].upper() + query[1:])
        items.append(_item("counterfactual", question, answer, "yes_no", op, args, intervention=dict(changes),
                           objects=sorted({x, *args})))
        if len(items) == k:
            break
    return items
