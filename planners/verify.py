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
from collections.abc import Collection
from dataclasses import dataclass, field

import mujoco
import numpy as np
import torch

from foretell.envs import Goal
from foretell.envs.sim import physics

from .arrange import probe_layout
from .tasks import aim_at_axis


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


def goal_progress(goal: Goal, names: list[str], on: np.ndarray, on_table: np.ndarray,
                  cappers: Collection[str] = ()) -> np.ndarray:
    """How much of a goal holds, in [0, 1], per scene: the mean over its predicates of their truth,
    ``tower_height(h)`` counted as the fraction of the tower standing. ``on (..., N, N)``,
    ``on_table (..., N)`` -> ``(...,)``. A dense signal where p(success) is 0 for every candidate
    (a six-object tower is rarely finished by one imagined plan, but a taller partial tower is
    closer), used to rank such candidates, never to call a plan successful.

    ``cappers``: objects nothing stays on (the arrangement probe's verdict). A tower of height
    k < h topped by one is a dead end: it is finished only by taking the capper off (1 step) and
    placing h - k + 1 objects, as many steps as a tower of height k - 2 needs, so it counts as
    that. Without this, a search that finds no whole plan would stack a ball mid-tower because
    the tower gets taller (stack-physics-v0 test/000, session 9)."""
    from foretell.worldmodel.readouts import goal_truth, object_heights, predicates

    capped = np.array([n in cappers for n in names], dtype=bool)
    parts = []
    for pred in predicates(goal):
        if pred.name == "tower_height":
            h = int(pred.args[0])
            heights = object_heights(on, on_table)  # (..., N)
            top = ~on.any(axis=-2)  # nothing stands on it
            dead = top & capped & (heights < h)
            heights = np.where(dead, np.maximum(heights - 2, 0), np.where(top, heights, 0))
            parts.append(np.minimum(heights.max(axis=-1, initial=0) / h, 1.0))
        else:
            parts.append(goal_truth([pred], names, on, on_table).astype(float))
    return np.mean(parts, axis=0)


@dataclass
class VerifierStats:
    calls: int = 0
    plans: int = 0
    transitions: int = 0
    seconds: float = 0.0

    def add(self, plans: int, start: float, transitions: int = 0) -> None:
        """Count one call that scored ``plans`` plans since ``start`` (``time.perf_counter``)."""
        self.calls += 1
        self.plans += plans
        self.transitions += transitions
        self.seconds += time.perf_counter() - start

    def to_dict(self) -> dict:
        return {"calls": self.calls, "plans": self.plans, "transitions": self.transitions,
                "seconds": round(self.seconds, 3)}


@dataclass
class WorldModelVerifier:
    """Score plans by imagining them with a learned skill world model (``foretell.worldmodel``), or
    an ensemble of them (``worldmodel.ModelEnsemble``: ``num_samples`` futures per member, pooled)."""

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
        # an ensemble (``worldmodel.ModelEnsemble``) imagines num_samples futures per member
        self.futures = self.num_samples * len(getattr(self.model, "members", [self.model]))

    def start_episode(self, key: int) -> None:
        """Reseed the imagination noise from (seed, ``key``): an episode then imagines the same
        futures whichever episodes ran before it in this process (a Ray chunk, a resumed run)."""
        words = np.random.SeedSequence([self.seed, int(key)]).generate_state(2)
        self._generator.manual_seed((int(words[0]) << 31) ^ int(words[1]))

    def score(self, env, plans: list[list[dict]], goal: Goal, cappers: Collection[str] = ()) -> Scores:
        """Imagine every plan (one batched call) and score it against ``goal``; ``cappers``: objects
        nothing stays on, for the progress of failing plans (``goal_progress``)."""
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
        progress = (goal_progress(goal, scene.object_names, on, on_table, cappers)
                    * still(final, scene.mask)).mean(axis=1)
        self.stats.add(len(plans), start, int(sum(len(plan) for plan in plans)) * self.futures)
        return Scores(p, why, safe, progress)

    def imagine_states(self, env, plan: list[dict]) -> np.ndarray:
        """``(T, N, 13)`` one imagined future of ``plan`` (a state after each step), for videos:
        drawn from a generator of its own, so a run with videos plans exactly as one without."""
        from foretell.worldmodel import SceneState, imagine

        generator = torch.Generator().manual_seed(self.seed + 1)
        imagined = imagine(self.model, SceneState.from_env(env), [plan], num_samples=1, generator=generator,
                           num_steps=self.num_steps)
        return imagined.states[0, 0].numpy()

    def probe(self, env, builds: list[list[tuple[str, str]]]) -> np.ndarray:
        """``(K,)`` p(every placement of a build holds at its end, the scene still): each build a
        list of ``(object, target)`` placements made in order from the probe scene of
        ``arrange.probe_layout`` (every object alone, upright on the table), all imagined in one
        batched call."""
        from foretell.worldmodel import SceneState, imagine
        from foretell.worldmodel.readouts import still, support

        start = time.perf_counter()
        scene = SceneState.from_env(env)
        rows = np.flatnonzero(scene.mask)
        states = np.zeros_like(scene.states[-1])
        states[rows, :3] = probe_layout([scene.objects[r] for r in rows])
        states[rows, 3] = 1.0  # upright, at rest
        probe = SceneState(states, scene.mask, scene.properties, scene.object_names, scene.objects)
        plans = [[_place(obj, target) for obj, target in build] for build in builds]
        imagined = imagine(self.model, probe, plans, num_samples=self.num_samples, generator=self._generator,
                           num_steps=self.num_steps)
        final = imagined.final_states()  # (K, S, N, 13)
        on, _ = support(final, probe.objects, probe.mask, self.tolerance)
        row = {n: i for i, n in enumerate(scene.object_names)}
        holds = still(final, probe.mask)  # (K, S)
        for k, build in enumerate(builds):
            for obj, target in build:
                holds[k] &= on[k, :, row[obj], row[target]]
        self.stats.add(len(plans), start, sum(len(b) for b in builds) * self.futures)
        return holds.mean(axis=1)


@dataclass
class SimulatorVerifier:
    """Score plans by running them in the env itself from a snapshot (the oracle ceiling); with
    ``aim``, placements are aimed as the planner executes them (``tasks.aim_at_axis``)."""

    stats: VerifierStats = field(default_factory=VerifierStats)
    aim: bool = False

    def score(self, env, plans: list[list[dict]], goal: Goal, cappers: Collection[str] = ()) -> Scores:
        start = time.perf_counter()
        base = env.unwrapped
        snapshot = base.get_state()
        frames, base.tabletop.frame_callback = base.tabletop.frame_callback, None  # imagining records no video
        p, progress, why = np.zeros(len(plans)), np.zeros(len(plans)), []
        try:
            for c, plan in enumerate(plans):
                reason = "the plan ends before the goal holds"
                for action in plan:
                    *_, terminated, _, info = env.step(aim_at_axis(env, action) if self.aim else action)
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
                progress[c] = goal_progress(goal, list(base.tabletop.scene.names), on, on_table, cappers)
                base.set_state(snapshot)
        finally:
            base.set_state(snapshot)
            base.tabletop.frame_callback = frames
        self.stats.add(len(plans), start)
        return Scores(p, why, None, progress)

    def probe(self, env, builds: list[list[tuple[str, str]]]) -> np.ndarray:
        """``(K,)`` 1 where every placement of a build holds at its end in a still scene: each
        build a list of ``(object, target)`` placements simulated in order from the probe scene of
        ``arrange.probe_layout`` (every object alone, upright on the table), with the episode's
        own placement noise."""
        start = time.perf_counter()
        base = env.unwrapped
        tt = base.tabletop
        snapshot = base.get_state()
        frames, tt.frame_callback = tt.frame_callback, None
        names = list(tt.scene.names)
        layout = probe_layout(list(tt.scene.objects))
        out = np.zeros(len(builds))
        try:
            for k, build in enumerate(builds):
                qpos, qvel = tt.data.qpos.reshape(-1, 7), tt.data.qvel.reshape(-1, 6)
                qpos[:, :3], qpos[:, 3:] = layout, (1.0, 0.0, 0.0, 0.0)
                qvel[:] = 0.0
                mujoco.mj_forward(tt.model, tt.data)
                stable = True
                for obj, target in build:
                    *_, info = env.step(_place(obj, target))
                    self.stats.transitions += 1
                    stable = info["stable"]
                on, _ = physics.support_matrix(tt.scene, tt.data)
                out[k] = float(stable and all(on[names.index(o), names.index(t)] for o, t in build))
                base.set_state(snapshot)
        finally:
            base.set_state(snapshot)
            tt.frame_callback = frames
        self.stats.add(len(builds), start)
        return out


def _place(obj: str, target: str) -> dict:
    return {"skill": "pick_place", "object": obj, "target": target, "dx": 0.0, "dy": 0.0}
