"""Causal ground truth from the simulator: the direct graph from contact impulses, the
total-effect graph from but-for re-simulation, and how well the two agree.

Direct graph (``ContactRecorder``), recorded every physics step:
- a contact whose normal is near-vertical (|n_z| > 0.9) and whose bodies barely move relative
  to each other (< 2 cm/s) is *support*: its impulse is credited only from the lower object to
  the upper one (the weight of the upper object does not move the lower one);
- any other contact is an *interaction*: its normal impulse is recorded both ways (the edge
  weight), together with how much each body's velocity changed while the other touched it.
Edge ``u -> v`` when, while u touched v, v's velocity changed (from its velocity at first touch)
by more than the change that moves v visibly (``visible_velocity_change``: by the but-for
tolerance, before friction stops it), or v travelled more than that tolerance after u first
touched it and before anything else did, or when u held v up for more than 0.05 s. ``kind`` is
"support" when support impulse dominates, else "contact"; ``weight`` is the impulse (N*s);
``t_first`` the first physics step of contact.

Total-effect graph (``but_for_graph``): for each object u, re-simulate from the start without u
(removed); ``u -> v`` when v's trajectory deviates from the factual one by more than ``tol``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import mujoco
import networkx as nx
import numpy as np

from .scene import ROLLING_FRICTION, ObjectSpec

SUPPORT_NORMAL_Z = 0.9
SUPPORT_REL_SPEED = 0.02
SUPPORT_DV = 0.5  # m/s: support impulse / mass; 0.05 s of holding an object up against gravity
DEVIATION_TOL = 0.003  # m of trajectory deviation that counts as an effect
NEAR_THRESHOLD = 2.0  # a disagreement whose deviation is within this factor of the tolerance is a boundary case


class ContactRecorder:
    """Accumulates contact impulses between objects, split into support and interaction."""

    def __init__(self, objects: list[ObjectSpec]) -> None:
        n = len(objects)
        self.objects = list(objects)
        self.masses = np.array([o.mass for o in objects])
        self.breaks: list[tuple[int, int, int, float]] = []  # (striker, broken, step, impulse)
        self.interaction = np.zeros((n, n))  # [u, v]: impulse u exerted on v
        self.support = np.zeros((n, n))
        self.t_first = np.full((n, n), -1, dtype=np.int64)
        self.t_last = np.full((n, n), -1, dtype=np.int64)
        self.v_start = np.full((n, n, 3), np.nan)  # [u, v]: v's velocity when u first pushed it
        self.dv = np.zeros((n, n))  # [u, v]: largest change of v's velocity while touching u
        self.p_start = np.full((n, n, 3), np.nan)  # [u, v]: v's position when u first touched it
        self.moved = np.zeros((n, n))  # [u, v]: farthest v got from there before another object touched v
        self.open = np.zeros((n, n), dtype=bool)  # [u, v]: v's motion since u touched it is still u's doing
        self.steps = 0

    def update_objects(self, objects: list[ObjectSpec]) -> None:
        """Judge from now on with these specs (an intervention changed masses, sizes, frictions)."""
        if len(objects) != len(self.objects):
            raise ValueError(f"expected {len(self.objects)} object specs, got {len(objects)}")
        self.objects = list(objects)
        self.masses = np.array([o.mass for o in objects])

    def snapshot(self) -> dict:
        return {"interaction": self.interaction.copy(), "support": self.support.copy(),
                "t_first": self.t_first.copy(), "t_last": self.t_last.copy(), "v_start": self.v_start.copy(), "dv": self.dv.copy(),
                "p_start": self.p_start.copy(), "moved": self.moved.copy(), "open": self.open.copy(),
                "breaks": list(self.breaks), "steps": self.steps, "objects": [dataclasses.replace(o) for o in self.objects]}

    def restore(self, snapshot: dict) -> None:
        self.interaction, self.support = snapshot["interaction"].copy(), snapshot["support"].copy()
        self.t_first, self.steps = snapshot["t_first"].copy(), int(snapshot["steps"])
        self.t_last = snapshot["t_last"].copy()
        self.v_start, self.dv = snapshot["v_start"].copy(), snapshot["dv"].copy()
        self.p_start, self.moved = snapshot["p_start"].copy(), snapshot["moved"].copy()
        self.open = snapshot["open"].copy()
        self.breaks = list(snapshot["breaks"])
        if "objects" in snapshot:
            self.update_objects([dataclasses.replace(o) for o in snapshot["objects"]])

    def record(self, data: mujoco.MjData, dt: float, geom_owner: np.ndarray, pos: np.ndarray,
               vel: np.ndarray) -> np.ndarray:
        """Add one physics step's contacts (call once per ``mj_step``).

        Args:
            geom_owner: ``(ngeom,)`` the recorded object each geom belongs to (-1 table, -2 other);
                the pieces of a broken object all belong to it.
            pos, vel: ``(N, 3)`` position and linear velocity of each recorded object.

        Returns:
            ``(N, N)`` normal impulse between each pair of objects in this step.
        """
        self.steps += 1
        n = len(self.masses)
        step_impulse = np.zeros((n, n))
        if self.open.any():  # how far each v has got since u first touched it
            with np.errstate(invalid="ignore"):
                displacement = np.linalg.norm(pos[None, :, :] - self.p_start, axis=-1)  # (N, N)
            np.maximum(self.moved, np.where(self.open, displacement, 0.0), out=self.moved)
        ncon = data.ncon
        if ncon == 0:
            return step_impulse
        con = data.contact
        adr = con.efc_address[:ncon]
        sides = geom_owner[con.geom[:ncon]]  # (k, 2)
        keep = (adr >= 0) & (sides[:, 0] >= 0) & (sides[:, 1] >= 0) & (sides[:, 0] != sides[:, 1])
        if not keep.any():
            return step_impulse
        a, b = sides[keep, 0], sides[keep, 1]
        impulse = data.efc_force[adr[keep]] * dt
        np.add.at(step_impulse, (a, b), impulse)
        np.add.at(step_impulse, (b, a), impulse)
        normal_z = con.frame[:ncon][keep, 2]
        rel_speed = np.linalg.norm(vel[a] - vel[b], axis=1)
        is_support = (np.abs(normal_z) > SUPPORT_NORMAL_Z) & (rel_speed < SUPPORT_REL_SPEED)
        z = pos[:, 2]
        lower = np.where(z[a] <= z[b], a, b)
        upper = np.where(z[a] <= z[b], b, a)
        np.add.at(self.support, (lower[is_support], upper[is_support]), impulse[is_support])
        inter = ~is_support
        np.add.at(self.interaction, (a[inter], b[inter]), impulse[inter])
        np.add.at(self.interaction, (b[inter], a[inter]), impulse[inter])
        # Velocity change of each body while the other touches it (vs. its velocity at first touch).
        u = np.concatenate([a[inter], b[inter]])
        v = np.concatenate([b[inter], a[inter]])
        fresh = np.isnan(self.v_start[u, v, 0])
        self.v_start[u[fresh], v[fresh]] = vel[v[fresh]]
        self.p_start[u[fresh], v[fresh]] = pos[v[fresh]]
        np.maximum.at(self.dv, (u, v), np.linalg.norm(vel[v] - self.v_start[u, v], axis=1))
        if fresh.any():  # a new toucher of v: v's later motion is no longer only the earlier ones' doing
            closing = np.zeros_like(self.open)
            closing[:, v[fresh]] = True
            closing[u[fresh], v[fresh]] = False
            self.open &= ~closing
            self.open[u[fresh], v[fresh]] = True
        touched = np.zeros_like(self.t_first, dtype=bool)
        touched[a, b] = touched[b, a] = True
        fresh = touched & (self.t_first < 0)
        self.t_first[fresh] = self.steps
        self.t_last[touched] = self.steps
        return step_impulse

    def direct_graph(self, names: list[str], dv_min: np.ndarray | None = None,
                     tol: float = DEVIATION_TOL) -> nx.DiGraph:
        """Direct causal graph over object names (see module docstring).

        Args:
            dv_min: ``(N,)`` velocity change (m/s) that makes each object's motion visibly differ;
                defaults to ``visible_velocity_change`` of each object.
            tol: displacement (m) of v, from u's first touch until another object first touches v,
                that counts as being moved by u (a push, or a knock that slides v).
        """
        graph = nx.DiGraph(level="object", kind="direct")
        graph.add_nodes_from(names)
        if dv_min is None:
            dv_min = visible_velocity_change(self.objects)
        total = self.interaction + self.support
        edges = ((self.dv > dv_min[None, :]) | (self.moved > tol) |
                 (self.support / self.masses[None, :] > SUPPORT_DV))
        for u, v in zip(*np.nonzero(edges), strict=True):
            kind = "support" if self.support[u, v] > self.interaction[u, v] else "contact"
            graph.add_edge(names[u], names[v], weight=float(total[u, v]), t_first=int(self.t_first[u, v]),
                           t_last=int(self.t_last[u, v]), kind=kind)
        for striker, broken, step, impulse in self.breaks:
            graph.add_edge(names[striker], names[broken], weight=impulse, t_first=step, t_last=step, kind="break")
        return graph


def visible_velocity_change(objects: list[ObjectSpec], tol: float = DEVIATION_TOL) -> np.ndarray:
    """Velocity change (m/s) that moves each object at least ``tol`` before friction stops it:
    sqrt(2 a tol) with deceleration a = mu g for sliding shapes, and the rolling-friction
    deceleration (5/7) g mu_roll / r for balls."""
    g = 9.81
    decel = np.array([(5 / 7) * g * ROLLING_FRICTION / o.size[0] if o.shape == "ball" else o.friction * g
                      for o in objects])
    return np.sqrt(2 * decel * tol)


def but_for_graph(names: list[str], factual: np.ndarray,
                  simulate_without: Callable[[str], tuple[np.ndarray, np.ndarray]],
                  tol: float = DEVIATION_TOL, factual_broken: np.ndarray | None = None) -> nx.DiGraph:
    """Total-effect graph by but-for re-simulation.

    Args:
        names: object names, in the order of ``factual``'s object axis.
        factual: positions ``(T, N, 3)`` of the factual rollout.
        simulate_without: ``name -> ((T, N, 3) positions, (N,) broken flags)`` of the same rollout
            with that object removed (its own column is ignored).
        tol: deviation (m) at any frame that counts as an effect.
        factual_broken: ``(N,)`` which objects broke in the factual rollout; breaking or not
            breaking is an effect whatever the positions do.

    ``graph.graph["deviation"][u][v]`` keeps every pair's largest deviation (m), edge or not.
    """
    graph = nx.DiGraph(level="object", kind="total_effect", tol=tol, deviation={})
    graph.add_nodes_from(names)
    for i, name in enumerate(names):
        counterfactual, broken = simulate_without(name)
        deviation = np.linalg.norm(counterfactual - factual, axis=-1).max(axis=0)  # (N,)
        graph.graph["deviation"][name] = {v: float(d) for j, (v, d) in enumerate(zip(names, deviation, strict=True))
                                          if j != i}
        changed = deviation > tol
        if factual_broken is not None:
            changed |= broken != factual_broken
        for j in np.flatnonzero(changed):
            if j != i:
                graph.add_edge(name, names[j], weight=float(deviation[j]))
    return graph


def temporal_closure(direct: nx.DiGraph) -> set[tuple[str, str]]:
    """Pairs (u, w) joined by a *time-respecting* path of direct edges: each edge x -> y can pass
    on an influence that reached x no later than the last contact of x and y (``t_last``), and
    passes it on from ``max(arrival at x, t_first)``. A ball that touches B after B already hit C
    did not cause C's motion, so ball -> C is not in the closure."""
    pairs = set()
    for source in direct.nodes:
        arrival = {source: -1}
        changed = True
        while changed:
            changed = False
            for x, y, data in direct.edges(data=True):
                if x in arrival and arrival[x] <= data.get("t_last", np.iinfo(np.int64).max):
                    t = max(arrival[x], data.get("t_first", 0))
                    if y not in arrival or t < arrival[y]:
                        arrival[y], changed = t, True
        pairs.update((source, y) for y in arrival if y != source)
    return pairs


def closure_agreement(direct: nx.DiGraph, total: nx.DiGraph) -> dict:
    """Compare the direct graph's time-respecting transitive closure with the total-effect graph.

    Disagreeing pairs whose but-for deviation lies within a factor ``NEAR_THRESHOLD`` of the
    tolerance (when ``total`` records deviations) are also listed as ``near_threshold``: the two
    graphs judge "an effect" by different measures (impulses and velocity changes vs. a
    trajectory tolerance), and such pairs sit on the boundary of both.
    """
    closure = temporal_closure(direct)
    effects = set(total.edges)
    missing, extra = sorted(effects - closure), sorted(closure - effects)
    deviation, tol = total.graph.get("deviation", {}), total.graph.get("tol", DEVIATION_TOL)
    near = [(u, v) for u, v in missing + extra
            if tol / NEAR_THRESHOLD < deviation.get(u, {}).get(v, np.inf) < tol * NEAR_THRESHOLD]
    return {"agree": closure == effects, "missing_in_direct": missing, "extra_in_direct": extra,
            "near_threshold": near}
