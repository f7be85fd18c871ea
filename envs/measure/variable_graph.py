"""Variable-level causal graphs: which scene parameters cause which outcomes in a scenario family.

Nodes are *variables* named by role, not by object, so one graph describes a whole family
(``foretell/Collide-v0``, ...): causes such as ``agent.mass`` or ``patient.fragility`` and
outcomes such as ``contact(agent, patient)`` or ``patient.broken``. The graph is a
``networkx.DiGraph`` with ``G.graph["level"] == "variable"`` (DESIGN.md, "Shared vocabulary").

How an edge is established (interventional, paired): for every seed the episode is re-run twice
from its start (``ScenarioEnv.counterfactual``), once under do(cause = low) and once under
do(cause = high), everything else equal. The paired differences ``outcome(high) - outcome(low)``
over seeds go through a two-sided exact sign test (``scipy.stats.binomtest`` at 0.5; pairs whose
difference is within the outcome's tolerance are ties and dropped; on a binary outcome this is
McNemar's exact test).
``cause -> outcome`` is an edge when ``p < alpha / m`` (Bonferroni over the ``m`` cause-outcome
pairs tested) and the standardised effect ``|mean difference| / sd(outcome)`` is at least
``min_effect``. Every tested pair, edge or not, is kept in ``G.graph["tests"]``.

Low and high values come from the env's property space (mass, friction, restitution: its range;
size: the smallest and largest half-extent the space allows for the object's shape, the bottom
kept where it was; fragility: ``env.fragility_range``). ``agent.speed`` rescales the agent's
initial velocity to the ends of the env's ``LAUNCH_SPEED`` range where it declares one, else to
0.5x and 1.5x; it is skipped when the agent starts at rest. ``agent.distance`` moves the agent
to 0.5x and 1.5x its horizontal offset from the patient (a seed is skipped where that leaves the
table or overlaps another object). ``distractors.present`` compares
the scene without its distractors (low) to the scene as sampled (high).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import networkx as nx
import numpy as np
from scipy.stats import binomtest

from foretell.runtime import atomic_write_json

from ..scenarios.base import ScenarioEnv
from ..sim.interventions import _SIZE_FIELD, MAX_SPEED, plan_interventions
from ..sim.passive import Rollout

LEVEL = "variable"
MOVE_TOLERANCE = 3e-3  # m: "visibly moved", the ground truth's but-for tolerance
DISPLACEMENT_TIE = 1e-3  # m: paired displacement differences below this are ties (solver noise)
SPEED_SCALES = (0.5, 1.5)  # agent.speed when the env declares no launch-speed range
DISTANCE_SCALES = (0.5, 1.5)  # agent.distance: the agent's horizontal offset from the patient, rescaled
CONTACT = "contact(agent, patient)"
OUTCOMES: dict[str, dict] = {
    CONTACT: {"unit": "bool", "tie": 0.0, "description": "the agent touches the patient within the horizon"},
    "patient.displacement": {"unit": "m", "tie": DISPLACEMENT_TIE,
                             "description": "distance from the patient's start to its final position"},
    "patient.broken": {"unit": "bool", "tie": 0.0, "description": "the patient shattered (fragile patients only)"},
    "agent.displacement": {"unit": "m", "tie": DISPLACEMENT_TIE,
                           "description": "distance from the agent's start to its final position"},
    "distractors.moved": {"unit": "fraction", "tie": 0.0,
                          "description": f"share of distractors moved more than {MOVE_TOLERANCE * 1e3:.0f} mm"},
}
ROLES = {"agent": "agent_name", "patient": "patient_name"}
Changes = dict | None


@dataclass(frozen=True)
class CauseVariable:
    """A scene parameter that is intervened on, with how to set it low or high in an episode.

    Attributes:
        name: node name, ``<role>.<variable>`` (``agent.mass``).
        unit: unit of ``low``/``high``.
        low, high: the two values compared (``None`` where they depend on the episode).
        description: what the two interventions do.
        changes: ``(env, high) -> interventions`` for the env's current episode, or ``None``
            where the variable does not apply to it (a patient that is not fragile, ...).
    """

    name: str
    unit: str
    low: float | None
    high: float | None
    description: str
    changes: Callable[[ScenarioEnv, bool], Changes]


def _object(env: ScenarioEnv, role: str):
    name = getattr(env, ROLES[role])
    return next(o for o in env.initial_objects if o.name == name)


def _property_cause(role: str, prop: str, space_bounds: tuple[float, float], unit: str) -> CauseVariable:
    def changes(env: ScenarioEnv, high: bool) -> Changes:
        lo, hi = env.space.bounds(prop)
        return {f"{_object(env, role).name}.{prop}": hi if high else lo}

    return CauseVariable(f"{role}.{prop}", unit, *space_bounds, f"the space's lowest vs highest {prop}", changes)


def _size_changes(env: ScenarioEnv, role: str, high: bool) -> Changes:
    obj = _object(env, role)
    if obj.shape not in _SIZE_FIELD:
        return None
    lo, hi = env.space.bounds(_SIZE_FIELD[obj.shape])
    base = obj.half_height if obj.shape == "domino" else obj.size[0]  # the extent the bounds apply to
    target = hi * (1 - 1e-9) if high else lo * (1 + 1e-9)  # stay inside the bounds after rounding
    changes = {f"{obj.name}.size": target / base}
    resized = plan_interventions(changes, [obj], env.space, env.fragility_range).objects[0]
    x, y, z = obj.pos
    changes[f"{obj.name}.position"] = (x, y, z + resized.half_height - obj.half_height)  # bottom stays put
    return changes


def _speed_changes(env: ScenarioEnv, high: bool) -> Changes:
    name = env.agent_name
    velocity = np.asarray(env.initial_velocities.get(name, np.zeros(3)), dtype=float)[:3]
    speed = float(np.linalg.norm(velocity))
    if speed < 1e-9:
        return None
    launch = getattr(env, "LAUNCH_SPEED", {}).get(env.space.name)
    target = (launch[1] if high else launch[0]) if launch else speed * SPEED_SCALES[int(high)]
    return {f"{name}.velocity": tuple(velocity * min(target, MAX_SPEED) / speed)}


def _distance_changes(env: ScenarioEnv, high: bool) -> Changes:
    agent, patient = _object(env, "agent"), _object(env, "patient")
    offset = np.subtract(agent.pos[:2], patient.pos[:2])
    xy = np.asarray(patient.pos[:2]) + offset * DISTANCE_SCALES[int(high)]
    for other in env.initial_objects:
        apart = np.linalg.norm(xy - other.pos[:2]) > agent.radius_xy + other.radius_xy
        stacked = abs(agent.pos[2] - other.pos[2]) >= agent.half_height + other.half_height
        if other is not agent and not (apart or stacked):
            raise ValueError(f"agent.distance: moved, {agent.name} would overlap {other.name}")
    return {f"{agent.name}.position": (float(xy[0]), float(xy[1]), agent.pos[2])}


def _fragility_changes(env: ScenarioEnv, high: bool) -> Changes:
    patient, bounds = _object(env, "patient"), env.fragility_range
    if not patient.fragile or bounds is None:
        return None
    return {f"{patient.name}.fragility": bounds[1] if high else bounds[0]}


def _distractors(env: ScenarioEnv) -> list[str]:
    """Objects other than agent and patient, scenery (frozen objects such as ramps) left out."""
    return [o.name for o in env.initial_objects if o.name not in (env.agent_name, env.patient_name) and not o.frozen]


def _distractor_changes(env: ScenarioEnv, high: bool) -> Changes:
    others = _distractors(env)
    if not others:
        return None
    return {} if high else dict.fromkeys(others, "remove")


def cause_variables(env: ScenarioEnv) -> list[CauseVariable]:
    """The candidate causes of a scenario env, with the values its property space allows.

    Args:
        env: an (unwrapped) scenario env; its space, launch speeds and fragility range set the values.

    Returns:
        Causes in a fixed order; each one's ``changes`` may still return ``None`` for an episode.
    """
    space, launch, fragility = env.space, getattr(env, "LAUNCH_SPEED", {}).get(env.space.name), env.fragility_range
    causes = [_property_cause("agent", "mass", space.mass, "kg")]
    causes.append(CauseVariable(
        "agent.speed", "m/s" if launch else "x initial speed", *(launch or SPEED_SCALES),
        "the agent's initial velocity rescaled, direction kept", _speed_changes))
    causes.append(CauseVariable(
        "agent.distance", "x sampled offset", *DISTANCE_SCALES,
        "the agent's horizontal offset from the patient rescaled (height and velocity kept)", _distance_changes))
    for role in ("agent", "patient"):
        if role == "patient":
            causes.append(_property_cause("patient", "mass", space.mass, "kg"))
        causes.append(CauseVariable(
            f"{role}.size", "m (half-extent)", None, None,
            "smallest vs largest half-extent the space allows for the shape, bottom kept in place",
            lambda env, high, role=role: _size_changes(env, role, high)))
        causes.append(_property_cause(role, "friction", space.friction, "sliding coefficient"))
        causes.append(_property_cause(role, "restitution", space.restitution, "coefficient"))
    causes.append(CauseVariable("patient.fragility", "N*s", *(fragility or (None, None)),
                                "the lowest vs highest break threshold", _fragility_changes))
    causes.append(CauseVariable("distractors.present", "bool", 0.0, 1.0,
                                "every distractor removed (low) vs the scene as sampled (high)", _distractor_changes))
    return causes


def episode_outcomes(rollout: Rollout, agent: str, patient: str, fragile: bool,
                     distractors: list[str] | None = None) -> dict[str, float]:
    """Outcome variables of one rollout (``OUTCOMES``); ``nan`` where undefined (no distractors).

    Args:
        rollout: a (counterfactual) rollout, positions ``(T+1, N, 3)``.
        agent, patient: object names.
        fragile: whether the patient can break (adds ``patient.broken``).
        distractors: the objects ``distractors.moved`` is about (default: all others).
    """
    names, positions = rollout.names, rollout.positions
    i, j = names.index(agent), names.index(patient)
    travel = np.linalg.norm(positions - positions[:1], axis=-1)  # (T+1, N)
    others = [k for k, n in enumerate(names) if k not in (i, j) and (distractors is None or n in distractors)]
    out = {CONTACT: float(rollout.touched(agent, patient)),
           "patient.displacement": float(travel[-1, j]), "agent.displacement": float(travel[-1, i]),
           "distractors.moved": float(np.mean(travel[:, others].max(axis=0) > MOVE_TOLERANCE)) if others else np.nan}
    if fragile:
        out["patient.broken"] = float(rollout.broken[j])
    return out


def sign_test(differences: np.ndarray, tie: float = 0.0) -> tuple[float, int, int]:
    """Two-sided exact sign test of paired differences; ``|d| <= tie`` counts as a tie and is dropped.

    The test is ``scipy.stats.binomtest(positives, positives + negatives, 0.5)``: under no
    effect each non-tied pair is as likely to go up as down.

    Returns:
        ``(p_value, positives, negatives)``; ``p_value`` is 1 when every pair is a tie.
    """
    positives, negatives = int(np.sum(differences > tie)), int(np.sum(differences < -tie))
    if positives + negatives == 0:
        return 1.0, 0, 0
    return float(binomtest(positives, positives + negatives, 0.5).pvalue), positives, negatives


def paired_effect(low: np.ndarray, high: np.ndarray, tie: float = 0.0) -> dict:
    """Paired effect of do(high) vs do(low) over seeds (pairs with a ``nan`` are left out).

    Args:
        low, high: ``(S,)`` outcome values per seed under the low and the high intervention.
        tie: differences within this are no change.

    Returns:
        ``n`` pairs, ``n_changed`` (non-tied), ``mean_low``/``mean_high``, ``mean_difference``,
        ``weight`` (mean difference over the outcome's pooled sd, 0 when it never varies),
        ``effect`` (sign, +1/-1/0) and ``p_value`` (``sign_test``).
    """
    valid = ~(np.isnan(low) | np.isnan(high))
    low, high = low[valid], high[valid]
    if low.size == 0:
        return {"n": 0, "n_changed": 0, "mean_low": None, "mean_high": None, "mean_difference": 0.0,
                "weight": 0.0, "effect": 0, "p_value": 1.0}
    difference = high - low
    p_value, positives, negatives = sign_test(difference, tie)
    spread = float(np.std(np.concatenate([low, high])))
    mean = float(np.mean(difference))
    return {"n": int(low.size), "n_changed": positives + negatives, "mean_low": float(np.mean(low)),
            "mean_high": float(np.mean(high)), "mean_difference": mean,
            "weight": mean / spread if spread > 0 else 0.0, "effect": int(np.sign(mean)), "p_value": p_value}


def _collect(env: ScenarioEnv, causes: list[CauseVariable], seeds: Iterable[int]) -> dict[str, dict[str, list]]:
    """Outcomes under do(low) and do(high) per cause and seed: ``{cause: {"low"|"high": [outcomes],
    "skipped": [seeds]}}``. A seed is skipped for a cause when the intervention leaves the allowed
    range (an object sampled at the table's edge cannot be re-placed there after resizing)."""
    samples: dict[str, dict[str, list]] = {c.name: {"low": [], "high": [], "skipped": []} for c in causes}
    for seed in seeds:
        env.reset(seed=int(seed))
        fragile = _object(env, "patient").fragile
        for cause in causes:
            try:
                levels = {"low": cause.changes(env, False), "high": cause.changes(env, True)}
                if any(changes is None for changes in levels.values()):
                    continue
                rollouts = {level: env.counterfactual(changes) for level, changes in levels.items()}
            except ValueError:
                samples[cause.name]["skipped"].append(int(seed))
                continue
            for level, rollout in rollouts.items():
                samples[cause.name][level].append(episode_outcomes(rollout, env.agent_name, env.patient_name,
                                                                   fragile, _distractors(env)))
    return samples


def _tests(samples: dict[str, dict[str, list]]) -> list[dict]:
    """One paired-effect record per (cause, outcome) pair with at least one defined pair."""
    records = []
    for cause, levels in samples.items():
        for outcome, spec in OUTCOMES.items():
            low = np.array([o.get(outcome, np.nan) for o in levels["low"]], dtype=float)
            high = np.array([o.get(outcome, np.nan) for o in levels["high"]], dtype=float)
            effect = paired_effect(low, high, spec["tie"])
            if effect["n"] > 0:
                records.append({"cause": cause, "outcome": outcome, **effect})
    return records


def variable_graph(env_id: str, seeds: Sequence[int], space: str = "A", causes: Sequence[str] | None = None,
                   alpha: float = 0.05, min_effect: float = 0.2,
                   progress: Callable[[Iterable], Iterable] | None = None) -> nx.DiGraph:
    """Variable-level causal graph of a scenario family, from paired interventional rollouts.

    Costs two rollouts per applicable cause per seed (about 0.1 s each on one CPU core).

    Args:
        env_id: a registered ``ScenarioEnv`` id (``foretell/GlassBreak-v0``).
        seeds: episode seeds, a sequence such as ``range(60)`` (not a count); the result is
            deterministic for the same seeds.
        space: property space "A" or "B" (sets the scenes and the intervened values).
        causes: restrict to these cause names (default: all of ``cause_variables``).
        alpha: family-wise significance level, Bonferroni-corrected over the pairs tested.
        min_effect: smallest ``|weight|`` (standardised mean paired difference) for an edge.
        progress: optional wrapper of the seed iterable (a progress bar).

    Returns:
        A ``DiGraph`` with ``graph["level"] == "variable"``; nodes carry ``role`` ("cause" or
        "outcome"), ``unit`` and, for causes, ``low``/``high``, ``n`` (seeds used) and ``skipped``
        (seeds where an intervention left the allowed range); edges carry ``weight``,
        ``effect``, ``p_value``, ``n``, ``n_changed``, ``mean_difference``, ``kind="interventional"``.

    Raises:
        ValueError: for an env that is not a scenario, seeds given as a count or empty, or an
            unknown cause name.
    """
    if isinstance(seeds, numbers.Integral):
        raise ValueError(f"seeds must be a sequence of episode seeds such as range({seeds}), got the int {seeds}")
    if len(seeds) == 0:
        raise ValueError("seeds must not be empty")
    env = gym.make(env_id, space=space, obs_keys=("state",)).unwrapped
    if not isinstance(env, ScenarioEnv):
        raise ValueError(f"{env_id} is not a passive scenario (ScenarioEnv); variable graphs need one")
    chosen = cause_variables(env)
    if causes is not None:
        unknown = sorted(set(causes) - {c.name for c in chosen})
        if unknown:
            raise ValueError(f"unknown causes {unknown}; valid: {[c.name for c in chosen]}")
        chosen = [c for c in chosen if c.name in causes]
    samples = _collect(env, chosen, progress(seeds) if progress else seeds)
    env.close()
    return _build_graph(env_id, space, seeds, chosen, samples, alpha, min_effect)


def _build_graph(env_id: str, space: str, seeds: Sequence[int], causes: list[CauseVariable],
                 samples: dict[str, dict[str, list]], alpha: float, min_effect: float) -> nx.DiGraph:
    tests = _tests(samples)
    threshold = alpha / max(len(tests), 1)
    graph = nx.DiGraph(level=LEVEL, env=env_id, space=space, seeds=[int(s) for s in seeds], alpha=alpha,
                       bonferroni_tests=len(tests), alpha_corrected=threshold, min_effect=min_effect,
                       test="two-sided exact sign test on paired do(high) - do(low) differences", tests=tests)
    for cause in causes:
        if samples[cause.name]["low"]:
            graph.add_node(cause.name, role="cause", unit=cause.unit, low=cause.low, high=cause.high,
                           description=cause.description, n=len(samples[cause.name]["low"]),
                           skipped=samples[cause.name]["skipped"])
    for outcome in sorted({t["outcome"] for t in tests}, key=list(OUTCOMES).index):
        spec = OUTCOMES[outcome]
        graph.add_node(outcome, role="outcome", unit=spec["unit"], description=spec["description"])
    for t in tests:
        if t["p_value"] < threshold and abs(t["weight"]) >= min_effect:
            graph.add_edge(t["cause"], t["outcome"], kind="interventional",
                           **{k: t[k] for k in ("weight", "effect", "p_value", "n", "n_changed", "mean_difference")})
    return graph


def graph_to_json(graph: nx.DiGraph) -> dict:
    """Node-link JSON (``edges="edges"``, as the direct graphs) of a variable-level graph."""
    return nx.node_link_data(graph, edges="edges")


def save_variable_graph(graph: nx.DiGraph, path: str | Path) -> Path:
    """Write ``graph`` atomically as node-link JSON; refuse a graph that is not variable-level."""
    if graph.graph.get("level") != LEVEL:
        raise ValueError(f"not a variable-level graph: graph['level']={graph.graph.get('level')!r}")
    return atomic_write_json(path, graph_to_json(graph))


def load_variable_graph(path: str | Path) -> nx.DiGraph:
    """Read a graph written by ``save_variable_graph``; ``ValueError`` if it is not variable-level."""
    data = json.loads(Path(path).read_text())
    if data.get("graph", {}).get("level") != LEVEL:
        raise ValueError(f"{path} is not a variable-level graph (graph.level="
                         f"{data.get('graph', {}).get('level')!r}, expected {LEVEL!r})")
    return nx.node_link_graph(data, directed=True, edges="edges")
