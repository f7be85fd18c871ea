"""Verifiers: how a planner checks candidate plans before acting.

A verifier scores each candidate plan with the probability that, executed from the current
state, it leaves the goal true in a stable scene, and says in words why the likely failures fail
(what the LLM is told on the next round).

- ``WorldModelVerifier``: foretell's learned world model imagines every plan, S samples each, all
  candidates batched into one ``imagine`` call; scores are read from the imagined states with the
  env's own predicates.
- ``SimulatorVerifier``: the simulator itself, replayed from an exact snapshot (the oracle and
  upper bound: it knows every hidden property and even the placement noise of the real run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from foretell.envs import Goal
from foretell.envs.sim import physics


@dataclass
class Scores:
    """Per-candidate verdicts: ``p`` (C,) the probability of success, ``why`` one sentence per
    candidate, and ``safe`` (C,) the probability that nothing falls on the way (ranks plans that
    all fail the goal: the safer one is the better first step to take before replanning)."""

    p: np.ndarray
    why: list[str]
    safe: np.ndarray | None = None
    progress: np.ndarray | None = None

    def ranking(self) -> np.ndarray:
        """Candidate indices, best first: by ``p``, then ``progress``, then ``safe``."""
        zeros = np.zeros_like(self.p)
        safe = zeros if self.safe is None else self.safe
        progress = zeros if self.progress is None else self.progress
        return np.lexsort((-safe, -np.round(progress, 3), -self.p))

    def key(self, c: int) -> tuple[float, float, float]:
        """Candidate ``c``'s rank key (larger is better), comparable across calls."""
        return (float(self.p[c]), round(float(self.progress[c]), 3) if self.progress is not None else 0.0,
                float(self.safe[c]) if self.safe is not None else 0.0)


def goal_progress(goal: Goal, names: list[str], on: np.ndarray, on_table: np.ndarray) -> np.ndarray:
    """How much of a goal holds, in [0, 1], per scene: the mean over its predicates of their truth,
    ``tower_height(h)`` counted as the fraction of the tower standing. ``on (..., N, N)``,
    ``on_table (..., N)`` -> ``(...,)``. A dense signal where p(success) is 0 for every candidate
    (a six-object tower is rarely finished by one imagined plan, but a taller partial tower is
    closer), used to rank such candidates, never to call a plan successful."""
    from foretell.worldmodel.readouts import goal_truth, predicates, tower_heights

    parts = []
    for pred in predicates(goal):
        if pred.name == "tower_height":
            parts.append(np.minimum(tower_heights(on, on_table) / pred.args[0], 1.0))
        else:
            parts.append(goal_truth([pred], names, on, on_table).astype(float))
    return np.mean(parts, axis=0)


@dataclass
class VerifierStats:
    calls: int = 0
    plans: int = 0
    transitions: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"calls": self.calls, "plans": self.plans, "transitions": self.transitions,
                "seconds": round(self.seconds, 3)}


@dataclass
class WorldModelVerifier:
    """Score plans by imagining them with a learned skill world model (``foretell.worldmodel``)."""

    model: object
    num_samples: int = 8
    num_steps: int = 4
    seed: int = 0
    tolerance: float = 0.02  # touching gap (m) on predicted states: worldmodel.skills.SKILL_TOLERANCE, tuned on val
    stats: VerifierStats = field(default_factory=VerifierStats)

    def __post_init__(self) -> None:
        if getattr(self.model.config, "action_kind", None) != "skill":
            raise ValueError(f"the planner's world model must be a skill model (action kind 'skill', trained on "
                             f"BlockStack-v0 data); this one has action kind {self.model.config.action_kind!r}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        self._generator = torch.Generator().manual_seed(self.seed)

    def score(self, env, plans: list[list[dict]], goal: Goal) -> Scores:
        from foretell.worldmodel import SceneState, imagine  # inference API only
        from foretell.worldmodel.readouts import still, support

        start = time.perf_counter()
        scene = SceneState.from_env(env)
        imagined = imagine(self.model, scene, plans, num_samples=self.num_samples, generator=self._generator,
                           num_steps=self.num_steps)
        p = np.asarray(imagined.p_goal_stable(goal, self.tolerance), dtype=float)
        why = [imagined.describe_failure(c, goal) for c in range(len(plans))]
        safe = 1.0 - imagined.p_fall().max(axis=1)  # (C,): p(no object falls), bounded by the likeliest fall
        final = imagined.final_states()  # (C, S, N, 13)
        on, on_table = support(final, scene.objects, scene.mask, self.tolerance)
        progress = (goal_progress(goal, scene.object_names, on, on_table) * still(final, scene.mask)).mean(axis=1)
        self.stats.calls += 1
        self.stats.plans += len(plans)
        self.stats.transitions += int(sum(len(plan) for plan in plans)) * self.num_samples
        self.stats.seconds += time.perf_counter() - start
        return Scores(p, why, safe, progress)


@dataclass
class SimulatorVerifier:
    """Score plans by running them in the env itself from a snapshot (the oracle ceiling)."""

    stats: VerifierStats = field(default_factory=VerifierStats)

    def score(self, env, plans: list[list[dict]], goal: Goal) -> Scores:
        start = time.perf_counter()
        base = env.unwrapped
        snapshot = base.get_state()
        frames, base.tabletop.frame_callback = base.tabletop.frame_callback, None  # imagining records no video
        p, progress, why = np.zeros(len(plans)), np.zeros(len(plans)), []
        try:
            for c, plan in enumerate(plans):
                reason = "the plan ends before the goal holds"
                for action in plan:
                    *_, terminated, _, info = env.step(action)
                    self.stats.transitions += 1
                    if info["success"]:
                        p[c], reason = 1.0, ""
                        break
                    if terminated:
                        reason = "the goal is feasible, so declaring it infeasible fails"
                        break
                    if not info["stable"]:
                        reason = f"the scene is still moving after {action.get('skill')}"
                why.append(reason)
                on, on_table = physics.support_matrix(base.tabletop.scene, base.tabletop.data)
                progress[c] = goal_progress(goal, list(base.tabletop.scene.names), on, on_table)
                base.set_state(snapshot)
        finally:
            base.set_state(snapshot)
            base.tabletop.frame_callback = frames
        self.stats.calls += 1
        self.stats.plans += len(plans)
        self.stats.seconds += time.perf_counter() - start
        return Scores(p, why, None, progress)
