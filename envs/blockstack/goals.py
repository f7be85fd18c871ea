"""Goals as conjunctions of predicates, their feasibility, sampling, and instruction text.

Predicates (args are object names):
- ``on(a, b)``: a rests on b (touching, above, over b's footprint, and not touching the table:
  an object is on the table or on objects, never both, as in Blocksworld);
- ``on_table(a)``: a touches the table;
- ``clear(a)``: nothing rests on a;
- ``tower_height(h)``: some chain of resting objects, based on the table, is >= h objects tall.

Feasibility is known by construction from physical rules (``goal_feasibility``): a ball has no
flat top, so nothing can rest on it; hence a tower holds at most one ball, on top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..sim.scene import ObjectSpec

PREDICATES = ("on", "on_table", "clear", "tower_height")
INFEASIBLE_SHARE = 0.15
"""Share of sampled goals that are physically infeasible (a ball must support something)."""
KIND_SHARES = {"stack": 0.35, "tower": 0.35, "arrange": 0.30}
"""Shares of feasible goal kinds: fixed-order stacks, free-order towers, on + clear/on_table."""


@dataclass(frozen=True)
class Predicate:
    """One predicate, e.g. ``Predicate("on", ("red_cube", "blue_cube"))``."""

    name: str
    args: tuple

    def __post_init__(self) -> None:
        arity = {"on": 2, "on_table": 1, "clear": 1, "tower_height": 1}
        if self.name not in arity:
            raise ValueError(f"unknown predicate {self.name!r}; expected one of {PREDICATES}")
        if len(self.args) != arity[self.name]:
            raise ValueError(f"{self.name} takes {arity[self.name]} argument(s), got {self.args}")

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"

    @classmethod
    def parse(cls, text: str) -> Predicate:
        """Parse ``"on(red_cube, blue_cube)"`` back into a predicate."""
        match = re.fullmatch(r"\s*(\w+)\(([^)]*)\)\s*", text)
        if not match:
            raise ValueError(f"cannot parse predicate {text!r}; expected name(arg, ...)")
        args = tuple(a.strip() for a in match.group(2).split(",") if a.strip())
        if match.group(1) == "tower_height":
            args = tuple(int(a) for a in args)
        return cls(match.group(1), args)


@dataclass
class Goal:
    """A conjunction of predicates plus what the sampler knows about it."""

    predicates: tuple[Predicate, ...]
    kind: str
    feasible: bool = True
    needs_physics: bool = False
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"predicates": [str(p) for p in self.predicates], "kind": self.kind, "feasible": self.feasible,
                "needs_physics": self.needs_physics, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict) -> Goal:
        return cls(tuple(Predicate.parse(p) for p in d["predicates"]), d["kind"], d["feasible"],
                   d["needs_physics"], d.get("reason", ""))


def tower_height(on: np.ndarray, on_table: np.ndarray) -> int:
    """Objects in the tallest chain of ``on`` relations whose base is on the table."""
    n = len(on_table)
    height = np.where(on_table, 1, 0)
    # Relax n times: height[a] = max(height[a], height[b] + 1) for a on b with height[b] > 0.
    for _ in range(n):
        stacked = np.where(on & (height[None, :] > 0), height[None, :] + 1, 0).max(axis=1, initial=0)
        new = np.maximum(height, stacked)
        if np.array_equal(new, height):
            break
        height = new
    return int(height.max(initial=0))


def evaluate(goal: Goal, names: list[str], on: np.ndarray, on_table: np.ndarray) -> dict[str, bool]:
    """Truth value of each predicate (keyed by its string) under support relations ``on``/``on_table``."""
    index = {n: i for i, n in enumerate(names)}
    truth = {}
    for p in goal.predicates:
        if p.name == "on":
            value = bool(on[index[p.args[0]], index[p.args[1]]])
        elif p.name == "on_table":
            value = bool(on_table[index[p.args[0]]])
        elif p.name == "clear":
            value = not bool(on[:, index[p.args[0]]].any())
        else:
            value = tower_height(on, on_table) >= p.args[0]
        truth[str(p)] = value
    return truth


def max_tower(objects: list[ObjectSpec]) -> int:
    """Tallest physically possible tower: every non-ball, plus one ball on top."""
    balls = sum(o.shape == "ball" for o in objects)
    return len(objects) - balls + min(balls, 1)


def goal_feasibility(predicates: tuple[Predicate, ...], objects: list[ObjectSpec]) -> tuple[bool, str]:
    """Physical feasibility of a conjunction, with the reason when infeasible."""
    shape = {o.name: o.shape for o in objects}
    for p in predicates:
        if p.name == "on" and shape[p.args[1]] == "ball":
            return False, f"the {p.args[1]} is a ball and cannot support the {p.args[0]}"
        if p.name == "tower_height" and p.args[0] > max_tower(objects):
            return False, (f"a tower of {p.args[0]} needs more flat-topped supports: at most "
                           f"{max_tower(objects)} objects can stand in one tower (balls only on top)")
    return True, ""


def sample_goal(rng: np.random.Generator, objects: list[ObjectSpec], want_feasible: bool) -> Goal:
    """Sample a goal over ``objects``; infeasible goals require a ball in the scene. With one
    object, or nothing to stack on (only balls), the goal is to have an object on the table."""
    names = [o.name for o in objects]
    supports = [o.name for o in objects if o.shape != "ball"]
    balls = [o.name for o in objects if o.shape == "ball"]
    if not want_feasible:
        if not balls:
            raise ValueError("an infeasible goal needs a ball in the scene")
        if len(balls) >= 2 and rng.random() < 0.5:
            preds = (Predicate("tower_height", (max_tower(objects) + 1,)),)
            kind = "tower"
        else:
            ball = balls[rng.integers(len(balls))]
            others = [n for n in names if n != ball]
            top = others[rng.integers(len(others))]
            preds = (Predicate("on", (top, ball)),)
            kind = "stack"
        feasible, reason = goal_feasibility(preds, objects)
        assert not feasible
        return Goal(preds, kind, feasible=False, needs_physics=True, reason=reason)

    if len(names) == 1 or not supports:  # nothing can be stacked on: move something to the table
        mover = names[rng.integers(len(names))]
        return Goal((Predicate("on_table", (mover,)),), "arrange", feasible=True, needs_physics=False)
    kinds = list(KIND_SHARES)
    kind = kinds[rng.choice(len(kinds), p=list(KIND_SHARES.values()))]
    if kind == "tower":
        h_max = max_tower(objects)
        h = h_max if rng.random() < 0.5 else int(rng.integers(2, h_max + 1))
        preds = (Predicate("tower_height", (h,)),)
        # A naive order can put a ball under something whenever a ball is present.
        needs_physics = bool(balls) and h >= 2
    elif kind == "stack":
        k = int(rng.integers(2, min(len(supports) + 1, len(names), 4) + 1))
        chain = list(rng.permutation(supports)[: k - 1])
        tops = [n for n in names if n not in chain]
        chain.append(tops[rng.integers(len(tops))])
        preds = tuple(Predicate("on", (chain[i + 1], chain[i])) for i in range(k - 1))
        needs_physics = False
    else:
        base = supports[rng.integers(len(supports))]
        movers = [n for n in names if n != base]
        top = movers[rng.integers(len(movers))]
        preds = [Predicate("on", (top, base))]
        rest = [n for n in names if n not in (top, base)]
        if rest:
            other = rest[rng.integers(len(rest))]
            preds.append(Predicate("clear" if rng.random() < 0.5 else "on_table", (other,)))
        preds = tuple(preds)
        needs_physics = False
    return Goal(preds, kind, feasible=True, needs_physics=needs_physics)


# ---------------------------------------------------------------- instruction text
_TEMPLATES: dict[str, tuple[str, ...]] = {
    # The first template of each predicate is the canonical phrasing.
    "on": ("put the {0} on the {1}", "place the {0} on top of the {1}", "stack the {0} on the {1}",
           "set the {0} onto the {1}"),
    "on_table": ("put the {0} on the table", "place the {0} directly on the table",
                 "make sure the {0} rests on the table"),
    "clear": ("make sure nothing is on the {0}", "leave the top of the {0} clear", "keep the {0} uncovered"),
    "tower_height": ("build a tower at least {0} objects tall", "stack objects into a tower of {0} or more",
                     "make a tower with at least {0} objects"),
}
_JOINERS = (". ", ", then ", "; ")


def _object_text(name: str) -> str:
    return name.replace("_", " ")


def instruction_text(goal: Goal, rng: np.random.Generator | None = None) -> str:
    """English instruction for ``goal``; canonical when ``rng`` is None, else a seeded paraphrase."""
    clauses, joiner = [], _JOINERS[0]
    if rng is not None:
        joiner = _JOINERS[rng.integers(len(_JOINERS))]
    for p in goal.predicates:
        options = _TEMPLATES[p.name]
        template = options[0] if rng is None else options[rng.integers(len(options))]
        args = [str(a) if p.name == "tower_height" else _object_text(a) for a in p.args]
        clauses.append(template.format(*args))
    text = joiner.join(clauses)
    return text[0].upper() + text[1:] + "."


def _template_regex(template: str) -> re.Pattern:
    pattern = re.escape(template).replace(r"\{0\}", r"(?P<a0>[a-z0-9 ]+?)").replace(r"\{1\}", r"(?P<a1>[a-z0-9 ]+?)")
    return re.compile(f"^{pattern}$")


# Most specific first: "put the {0} on the table" must win over "put the {0} on the {1}".
_PARSERS = [(name, _template_regex(t)) for name, ts in _TEMPLATES.items() for t in ts]
_PARSERS.sort(key=lambda item: -len(re.sub(r"\(\?P<a\d>[^)]*\)", "", item[1].pattern)))


def parse_instruction(text: str, names: list[str] | None = None) -> tuple[Predicate, ...]:
    """Parse an instruction (canonical or any paraphrase) back to predicates.

    Raises:
        ValueError: a clause matches no template, or names an object not in ``names``.
    """
    body = text.strip().rstrip(".").strip()
    clauses = [c.strip() for c in re.split(r"\.\s+|, then |; ", body) if c.strip()]
    preds = []
    for clause in clauses:
        clause_l = clause[0].lower() + clause[1:]
        found = next(((n, r, r.match(clause_l)) for n, r in _PARSERS if r.match(clause_l)), None)
        if found is None:
            raise ValueError(f"cannot parse instruction clause {clause!r}")
        name, regex, match = found
        raw = [match.group(g) for g in ("a0", "a1") if g in regex.groupindex]
        if name == "tower_height":
            preds.append(Predicate(name, (int(raw[0]),)))
            continue
        args = tuple(a.replace(" ", "_") for a in raw)
        if names is not None:
            unknown = [a for a in args if a not in names]
            if unknown:
                raise ValueError(f"instruction names unknown object(s) {unknown}; valid names: {names}")
        preds.append(Predicate(name, args))
    return tuple(preds)
