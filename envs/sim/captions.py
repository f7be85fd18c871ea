"""Event-grounded captions for passive scenarios, with seeded paraphrase variety.

A caption is built only from what the simulator recorded (the direct causal graph's contact,
support and break edges, and the object-contact label), so it never mentions an event that did
not happen. Objects are named by colour and shape, with a salient property where one stands out
("the heavy red ball": mass in the top third of the property space's range).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from .properties import PropertySpace
from .scene import ObjectSpec

SETTING_STEPS = 25  # physics steps (50 ms): contacts that begin this early are the setting, not an event
_HIT = ("{a} hits {b}", "{a} collides with {b}", "{a} knocks into {b}", "{a} bumps {b}")
_REST = ("{a} comes to rest on {b}", "{a} lands on {b}", "{a} ends up on top of {b}")
_BREAK = ("{b} breaks", "{b} shatters", "{b} breaks into pieces")
_MISS = ("{a} misses {b}", "{a} never touches {b}", "{a} does not reach {b}")
_NOTHING = ("Nothing else touches.", "No other objects collide.", "Nothing else happens.")


def object_phrase(obj: ObjectSpec, space: PropertySpace) -> str:
    """'the red ball', or 'the heavy red ball' / 'the light red ball' when its mass stands out."""
    low, high = space.mass
    salient = ""
    if obj.shape == "ramp":  # scenery: its mass is not something a viewer would remark on
        pass
    elif obj.mass > low + 2 * (high - low) / 3:
        salient = "heavy "
    elif obj.mass < low + (high - low) / 3:
        salient = "light "
    return f"the {salient}{obj.color} {obj.shape}"


def _pick(options: tuple[str, ...], rng: np.random.Generator | None) -> str:
    return options[0] if rng is None else options[int(rng.integers(len(options)))]


def sentence(options: tuple[str, ...], rng: np.random.Generator | None) -> str:
    """One of ``options`` (the first when ``rng`` is None), capitalised: a seeded paraphrase."""
    text = _pick(options, rng)
    return text[0].upper() + text[1:]


def caption(intro: str, direct: nx.DiGraph, objects: list[ObjectSpec], agent: str, patient: str,
            touched: bool, space: PropertySpace, rng: np.random.Generator | None = None) -> str:
    """Describe an episode: ``intro`` (what set it going), then its contacts, supports and breaks
    in time order, then whether the agent reached the patient. Contacts present from the start
    (a ball set on a ramp, a domino leaning on the next) belong to the intro's setting, not to
    the story. Canonical when ``rng`` is None."""
    phrase = {o.name: object_phrase(o, space) for o in objects}
    events: list[tuple[int, str]] = []
    seen_pairs: set[frozenset] = set()
    for u, v, data in sorted(direct.edges(data=True), key=lambda e: (e[2]["t_first"], e[0], e[1])):
        if data["kind"] == "break":
            events.append((data["t_first"], _pick(_BREAK, rng).format(b=phrase[v])))
        elif data["kind"] == "support" and data["t_first"] > SETTING_STEPS:  # a landing, not a starting stack
            events.append((data["t_first"], _pick(_REST, rng).format(a=phrase[v], b=phrase[u])))
        elif data["kind"] == "contact" and data["t_first"] > SETTING_STEPS and frozenset((u, v)) not in seen_pairs:
            seen_pairs.add(frozenset((u, v)))
            first, second = (u, v) if u == agent or (v != agent and u < v) else (v, u)
            events.append((data["t_first"], _pick(_HIT, rng).format(a=phrase[first], b=phrase[second])))
    sentences = [intro]
    sentences += [text[0].upper() + text[1:] + "." for _, text in sorted(events, key=lambda e: e[0])]
    if not touched:
        miss = _pick(_MISS, rng).format(a=phrase[agent], b=phrase[patient])
        sentences.append(miss[0].upper() + miss[1:] + ".")
    if not events:
        sentences.append(_pick(_NOTHING, rng))
    return " ".join(sentences)
