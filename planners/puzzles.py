"""puzzles-v0 on a learned world model: ``cem+wm`` and ``llm+cem`` (issue 11, items 3 and 5).

A puzzle is one continuous action (``envs.puzzles``: where the red ball starts and how fast it
goes). The solver never simulates a candidate: it builds the state the action creates at t = 0
with the env's own code (``PuzzleFamily.agent_start`` on the task's scene at rest), lets a
passive object world model (trained on puzzle attempts: ``worldmodel.data`` reads their
``attempt/states``) imagine the 4 s attempt for S samples, and reads the puzzle's own goal from
the imagined states (``p_success``: the same ``off`` / ``zone`` / ``touch`` rules and forbidden
touches as ``envs.puzzles.core.judge``, contacts by ``worldmodel.shapes_touch``).

The search is the cross-entropy method over the normalised action box ``[-1, 1]^3``: a Gaussian,
a population scored in one batched model rollout per iteration, refit to the elites. ``llm+cem``
seeds the first population with the LLM's proposals (``planners.puzzle_prompts``). The agent
then attempts in the real env, best imagined action first (the AUCCESS protocol of
``envs.puzzles.benchmark``: up to 100 attempts, counted until the first success). A failed
attempt is evidence against its neighbourhood: candidates within ``tried_radius`` of it are
struck off, and for the first ``refits`` failures the Gaussian is refit to the remaining elites
and one more population is imagined. When every imagined candidate has been tried or struck
off, the agent falls back to uniform random actions from the task's generator.

A failed attempt can also be seen (``local_every``): the agent reads how far the real attempt
ended from the goal (``attempt_score``: the same shortfall as the imagined one, and how close
the red ball came to the target), and once the model's refits are spent every
``local_every``-th attempt is a local one, the model's best of a population drawn around the
best real attempt so far. ``random+local`` is that search without a model (uniform attempts,
every ``local_every``-th one the first neighbour drawn around the best real attempt; 2 by
default): on the train split it beats random, but the feedback did not beat the model's own
ranking, so the model agents keep it off by default (docs/results.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from foretell.envs.puzzles.core import AGENT, ON_TABLE_MARGIN, PuzzleFamily, PuzzleTask
from foretell.envs.sim.passive import PassiveSim
from foretell.worldmodel import ObjectDiffusionModel, load, shapes_touch
from foretell.worldmodel.ocp_model import rollout

AGENTS = ("cem+wm", "llm+cem")
BASELINES = ("random", "random+local")  # no world model
RANDOM_LOCAL_EVERY = 2  # random+local's default: every other attempt near the best real one (train split)
STATE_DIM = 13
PROGRESS_WEIGHT = 1e-3  # ranks candidates the model gives equal p(success) by how far they move the target
FORBIDDEN_SHORTFALL = 1.0  # m added to an imagined attempt's shortfall when the red ball touches a forbidden object
SCORES = ("p", "shortfall")
PROGRESS_SCALE = 0.05  # m: moving the target this far counts as full progress
INTERPOLATE = 4  # sub-frames per 40 ms frame when reading touches: a 2.4 m/s ball moves 9.6 cm a frame
REACH_WEIGHT = 1e-2  # ranks real attempts that leave the target where it was by how close the red ball came to it


@dataclass
class PuzzleSolverConfig:
    """Settings of the world-model puzzle agents (checked in ``__post_init__``).

    Attributes:
        population: candidates imagined per CEM iteration (one batched rollout).
        elites: best candidates the Gaussian is refit to.
        iterations: CEM iterations before the first attempt.
        samples: imagined futures per candidate (S); p(success) is the share that succeed.
        sampling_steps: diffusion sampler steps per model call.
        frames: imagined frames of 40 ms (the env's attempt is 100).
        refits: failed attempts after which the Gaussian is refit and one more population imagined.
        tried_radius: candidates this close (max-norm, normalised units) to a failed attempt are struck off.
        seed_std: std of the first Gaussian around LLM proposals (normalised units).
        min_std: floor of the Gaussian's std, so the search never collapses to a point.
        llm_candidates: K actions the LLM proposes (``llm+cem``).
        llm_temperature, llm_max_tokens: the LLM's sampling.
        score: what ranks candidates (``WorldModelScorer``): ``shortfall`` (default), how far
            the imagined futures end from the goal on average, or ``p``, the share that succeed.
            Chosen on the train split's tasks (docs/results.md, "Planning: puzzles-v0").
        local_every: once the model's ``refits`` are spent (from the first failure without a
            model), every k-th attempt is drawn around the best real attempt so far
            (``attempt_score``); 0 (the default for the model agents: on the train split it did not
            beat the model's own ranking, docs/results.md) turns the feedback off.
        local_population: candidates drawn around the best real attempt per local attempt, the
            model's best of them attempted (1: the first drawn, unranked; each costs a rollout).
        local_std: std of the Gaussian around the best real attempt (normalised units).
        local_radius: local candidates this close (max-norm) to an attempt already made are dropped.
    """

    population: int = 48
    elites: int = 8
    iterations: int = 3
    samples: int = 2
    sampling_steps: int = 2
    frames: int = 100
    refits: int = 5
    tried_radius: float = 0.1
    seed_std: float = 0.25
    min_std: float = 0.05
    llm_candidates: int = 6
    llm_temperature: float = 0.8
    llm_max_tokens: int = 48
    score: str = "shortfall"
    local_every: int = 0
    local_population: int = 16
    local_std: float = 0.25
    local_radius: float = 0.02

    def __post_init__(self) -> None:
        for name in ("population", "elites", "iterations", "samples", "sampling_steps", "frames",
                     "llm_candidates", "llm_max_tokens", "local_population"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {name}={getattr(self, name)}")
        if self.elites > self.population:
            raise ValueError(f"elites must be <= population, got elites={self.elites}, population={self.population}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        for name in ("refits", "local_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {name}={getattr(self, name)}")
        for name in ("tried_radius", "seed_std", "min_std", "local_std", "local_radius"):
            if not 0 < getattr(self, name) <= 2:
                raise ValueError(f"{name} must be in (0, 2], got {name}={getattr(self, name)}")


# ---------------------------------------------------------------- the scene an action creates
@dataclass
class PuzzleScene:
    """A task's scene at rest and what the model needs about its objects.

    Attributes:
        rest: ``(N, 13)`` object states before the attempt (the red ball in its start or tray pose).
        properties: ``(N, 14)`` static properties (``ObjectSpec.property_vector``), as datasets store them.
    """

    family: PuzzleFamily
    task: PuzzleTask
    rest: np.ndarray
    properties: np.ndarray

    @classmethod
    def from_task(cls, family: PuzzleFamily, task: PuzzleTask) -> PuzzleScene:
        rest = PassiveSim(task.objects, {}, image_size=16, markers=task.markers).states()  # (N, 13)
        return cls(family, task, rest, np.stack([o.property_vector() for o in task.objects]))

    def initial_states(self, actions: np.ndarray) -> np.ndarray:
        """States at t = 0 of the attempts ``actions`` ``(C, A)`` -> ``(C, N, 13)``: the red ball
        where ``agent_start`` puts it with its launch velocity, everything else at rest (what
        ``simulate_attempt`` records as frame 0, without simulating)."""
        actions = np.asarray(actions, dtype=np.float64).reshape(-1, self.family.action_dim)
        states = np.repeat(self.rest[None], len(actions), axis=0)  # (C, N, 13)
        for c, action in enumerate(actions):  # the env's own mapping, one action at a time
            pos, vel = self.family.agent_start(self.task, self.family.physical(action))
            states[c, 0, :3], states[c, 0, 7:13] = pos, vel
        return states


# ---------------------------------------------------------------- the goal, read from imagined states
def _interpolated(trajectory: np.ndarray, sub: int) -> np.ndarray:
    """Positions linearly interpolated ``sub`` times per frame (orientations and velocities held):
    ``(..., T, N, 13)`` -> ``(..., (T - 1) * sub + 1, N, 13)``."""
    if sub <= 1 or trajectory.shape[-3] < 2:
        return trajectory
    a, b = trajectory[..., :-1, :, :], trajectory[..., 1:, :, :]
    w = (np.arange(sub) / sub)[:, None, None]  # (sub, 1, 1)
    parts = np.repeat(a[..., None, :, :], sub, axis=-3)  # (..., T-1, sub, N, 13)
    parts[..., :3] = a[..., None, :, :3] + w * (b[..., None, :, :3] - a[..., None, :, :3])
    merged = parts.reshape(*a.shape[:-3], -1, *a.shape[-2:])
    return np.concatenate([merged, trajectory[..., -1:, :, :]], axis=-3)


def judge_imagined(task: PuzzleTask, trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The puzzle's verdict on imagined attempts, as ``envs.puzzles.core.judge`` decides it, and
    how far each attempt falls short of it.

    Args:
        trajectory: ``(..., T, N, 13)`` states from t = 0 (the action's state) to the end.

    Returns:
        success ``(...)`` bool: the goal is reached and the red ball touches no forbidden object;
        progress ``(...)`` in [0, 1]: how far the target moved (capped at ``PROGRESS_SCALE``), 0
        where a forbidden object is touched;
        shortfall ``(...)`` m, 0 where the goal is reached: ``off``: how far the target's final
        centre is above ``below``; ``zone``: its final distance to the patch (plus its height
        above lying); ``touch``: the closest its surface came to the other's (centre distance
        less both largest half-extents); ``FORBIDDEN_SHORTFALL`` more where a forbidden object
        is touched. A graded version of success that ranks near misses above wild ones.
    """
    names = [o.name for o in task.objects]
    goal, objects = task.goal, task.objects
    k, agent = names.index(goal.target), names.index(AGENT)
    fine = _interpolated(trajectory, INTERPOLATE)
    final = trajectory[..., -1, k, :]
    if goal.kind == "off":
        reached = final[..., 2] < goal.below
        short = np.maximum(final[..., 2] - goal.below, 0.0)
    elif goal.kind == "zone":
        lift = final[..., 2] - (objects[k].half_extents().max() + ON_TABLE_MARGIN)
        reached = goal.zone.contains(final[..., :2]) & (lift < 0)
        outside = np.maximum(np.abs(final[..., :2] - np.asarray(goal.zone.pos)) - np.asarray(goal.zone.half_size), 0)
        short = np.linalg.norm(outside, axis=-1) + np.maximum(lift, 0.0)
    elif goal.kind == "touch":
        j = names.index(goal.other)
        reached = shapes_touch(objects[k], objects[j], fine[..., k, :], fine[..., j, :]).any(axis=-1)
        gap = np.linalg.norm(fine[..., k, :3] - fine[..., j, :3], axis=-1).min(axis=-1) \
            - objects[k].half_extents().max() - objects[j].half_extents().max()
        short = np.maximum(gap, 0.0)
    else:
        raise ValueError(f"unknown goal kind {goal.kind!r}")
    violated = np.zeros(reached.shape, dtype=bool)
    for name in goal.forbidden:
        f = names.index(name)
        violated |= shapes_touch(objects[agent], objects[f], fine[..., agent, :], fine[..., f, :]).any(axis=-1)
    moved = np.linalg.norm(trajectory[..., -1, k, :3] - trajectory[..., 0, k, :3], axis=-1)
    progress = np.minimum(moved / PROGRESS_SCALE, 1.0) * ~violated
    shortfall = np.where(reached, 0.0, short) + FORBIDDEN_SHORTFALL * violated
    return reached & ~violated, progress, shortfall


def attempt_score(task: PuzzleTask, states: np.ndarray) -> float:
    """How close a real failed attempt came to solving ``task``, higher is closer: minus its
    shortfall (``judge_imagined`` on the recorded ``states`` ``(T, N, 13)``), plus
    ``PROGRESS_WEIGHT`` x how far it moved the target, minus ``REACH_WEIGHT`` x the closest the
    red ball came to the target (m, centre to centre), which ranks the many attempts that leave
    the target where it was."""
    _, progress, shortfall = judge_imagined(task, states)
    names = [o.name for o in task.objects]
    agent, k = names.index(AGENT), names.index(task.goal.target)
    reach = np.linalg.norm(states[:, agent, :3] - states[:, k, :3], axis=-1).min()
    return float(-shortfall + PROGRESS_WEIGHT * progress - REACH_WEIGHT * reach)


# ---------------------------------------------------------------- scoring candidates on the model
@dataclass
class WorldModelScorer:
    """Scores of candidate actions on one task, imagined by a passive object world model.

    Calling it with ``(C, A)`` normalised actions returns ``(C,)`` scores from one batched rollout
    of C x S futures: ``config.score == "p"``: p(success) plus ``PROGRESS_WEIGHT`` x mean
    progress; ``"shortfall"``: minus the mean shortfall (m, ``judge_imagined``) plus
    ``PROGRESS_WEIGHT`` x p(success). Every random draw comes from ``generator``.
    """

    model: ObjectDiffusionModel
    scene: PuzzleScene
    config: PuzzleSolverConfig
    generator: torch.Generator
    calls: int = 0
    transitions: int = 0
    seconds: float = 0.0
    last_p: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __call__(self, actions: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        cfg = self.config
        initial = self.scene.initial_states(actions)  # (C, N, 13)
        c, n = initial.shape[:2]
        k = self.model.config.history
        # (C, K, N, 13): the t = 0 state, repeated for a model with K > 1 (puzzle models are trained with K = 1)
        history = torch.from_numpy(np.repeat(initial[:, None], k, axis=1)).float()
        props = torch.from_numpy(np.repeat(self.scene.properties[None], c, axis=0)).float()  # (C, N, P)
        mask = torch.ones(c, n, dtype=torch.bool)
        futures = rollout(self.model, history, props, mask, cfg.frames, cfg.samples, self.generator,
                          cfg.sampling_steps).double().numpy()  # (C, S, L, N, 13)
        s = futures.shape[1]
        start_states = np.repeat(initial[:, None, None], s, axis=1)  # (C, S, 1, N, 13)
        trajectory = np.concatenate([start_states, futures], axis=2)
        success, progress, shortfall = judge_imagined(self.scene.task, trajectory)  # (C, S) each
        self.calls += 1
        self.transitions += c * s * cfg.frames
        self.seconds += time.perf_counter() - start
        self.last_p = success.mean(axis=1)
        if cfg.score == "shortfall":
            return -shortfall.mean(axis=1) + PROGRESS_WEIGHT * self.last_p
        return self.last_p + PROGRESS_WEIGHT * progress.mean(axis=1)


# ---------------------------------------------------------------- the cross-entropy search
@dataclass
class CandidateArchive:
    """Every candidate scored so far: ``actions (M, A)``, ``scores (M,)``, and the struck-off ones."""

    actions: np.ndarray
    scores: np.ndarray
    struck: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> CandidateArchive:
        return cls(np.zeros((0, dim)), np.zeros(0), np.zeros(0, dtype=bool))

    def add(self, actions: np.ndarray, scores: np.ndarray) -> None:
        self.actions = np.concatenate([self.actions, actions])
        self.scores = np.concatenate([self.scores, scores])
        self.struck = np.concatenate([self.struck, np.zeros(len(actions), dtype=bool)])

    def strike_near(self, action: np.ndarray, radius: float) -> None:
        """Strike off every candidate within ``radius`` (max-norm) of a failed ``action``."""
        self.struck |= np.abs(self.actions - action).max(axis=1) <= radius

    def best(self) -> np.ndarray | None:
        """The best-scored candidate not struck off (the earliest among equals), or None."""
        alive = np.flatnonzero(~self.struck)
        if len(alive) == 0:
            return None
        return self.actions[alive[np.argmax(self.scores[alive])]].copy()

    def elites(self, count: int) -> np.ndarray:
        """The ``count`` best candidates not struck off ``(<= count, A)`` (stable order among equals)."""
        alive = np.flatnonzero(~self.struck)
        order = alive[np.argsort(-self.scores[alive], kind="stable")]
        return self.actions[order[:count]]


def _sample(rng: np.random.Generator, mean: np.ndarray, std: np.ndarray, count: int) -> np.ndarray:
    """``count`` actions from the Gaussian, clipped to the action box ``(count, A)``."""
    return np.clip(mean + std * rng.standard_normal((count, len(mean))), -1.0, 1.0)


def first_population(rng: np.random.Generator, dim: int, count: int, seeds: np.ndarray | None = None,
                     seed_std: float = 0.25) -> np.ndarray:
    """The first CEM population ``(count, A)``: uniform over the box, or, with ``seeds`` ``(K, A)``,
    the seeds themselves, then half of the rest Gaussian around them and half uniform (the seeds
    say where to look; the uniform half keeps a bad proposal from blinding the search)."""
    uniform = rng.uniform(-1.0, 1.0, (count, dim))
    if seeds is None or len(seeds) == 0:
        return uniform
    seeds = np.clip(np.asarray(seeds, dtype=np.float64).reshape(-1, dim)[:count], -1.0, 1.0)
    rest = count - len(seeds)
    around = seeds[rng.integers(len(seeds), size=rest // 2)] + seed_std * rng.standard_normal((rest // 2, dim))
    return np.concatenate([seeds, np.clip(around, -1.0, 1.0), uniform[: rest - rest // 2]])


def refit(archive: CandidateArchive, elites: int, min_std: float) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian ``(mean (A,), std (A,))`` of the archive's elites (std floored at ``min_std``)."""
    best = archive.elites(elites)
    if len(best) == 0:
        dim = archive.actions.shape[1]
        return np.zeros(dim), np.ones(dim)
    return best.mean(axis=0), np.maximum(best.std(axis=0), min_std)


def cem_search(score: Callable[[np.ndarray], np.ndarray], dim: int, rng: np.random.Generator,
               config: PuzzleSolverConfig, seeds: np.ndarray | None = None,
               archive: CandidateArchive | None = None) -> CandidateArchive:
    """Cross-entropy search over ``[-1, 1]^dim``: ``config.iterations`` populations of
    ``config.population``, each scored in one call of ``score`` ``(C, A) -> (C,)``, the Gaussian
    refit to the ``config.elites`` best so far. Returns the archive of every scored candidate."""
    archive = archive or CandidateArchive.empty(dim)
    population = first_population(rng, dim, config.population, seeds, config.seed_std)
    for iteration in range(config.iterations):
        if iteration:
            mean, std = refit(archive, config.elites, config.min_std)
            population = _sample(rng, mean, std, config.population)
        archive.add(population, np.asarray(score(population), dtype=np.float64))
    return archive


# ---------------------------------------------------------------- the attempting agent
def local_candidates(rng: np.random.Generator, tried: np.ndarray, scores: np.ndarray,
                     config: PuzzleSolverConfig) -> np.ndarray:
    """``config.local_population`` candidates ``(<= local_population, A)`` drawn around the best
    real attempt among ``tried`` ``(M, A)`` (by ``scores`` ``(M,)``), without those within
    ``local_radius`` of any attempt already made."""
    best = tried[int(np.argmax(scores))]
    population = _sample(rng, best, np.full(len(best), config.local_std), config.local_population)
    gap = np.abs(population[:, None, :] - tried[None]).max(axis=2).min(axis=1)  # (C,) to the nearest attempt
    return population[gap > config.local_radius]


@dataclass
class WorldModelPuzzleAgent:
    """``cem+wm`` (``propose=None``) or ``llm+cem`` (``propose`` returns the LLM's actions for a task);
    without a model, ``random+local``: uniform attempts, every ``local_every``-th one around the
    best real attempt (the first neighbour drawn, unranked).

    ``first_success`` has the signature ``envs.puzzles.benchmark.evaluate_agent`` expects.
    """

    model: ObjectDiffusionModel | None
    config: PuzzleSolverConfig = field(default_factory=PuzzleSolverConfig)
    propose: Callable[[PuzzleFamily, PuzzleTask, int], tuple[np.ndarray, dict]] | None = None

    def first_success(self, family: PuzzleFamily, task: PuzzleTask, rng: np.random.Generator,
                      attempts: int) -> tuple[int | None, dict]:
        cfg, start = self.config, time.perf_counter()
        scorer = archive = None
        seeds, details = None, {}
        if self.model is not None:
            generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
            scorer = WorldModelScorer(self.model, PuzzleScene.from_task(family, task), cfg, generator)
            if self.propose is not None:
                seeds, details = self.propose(family, task, int(rng.integers(2**31 - 1)))
            archive = cem_search(scorer, family.action_dim, rng, cfg, seeds)
        best_p = float(scorer.last_p.max()) if scorer is not None and len(scorer.last_p) else 0.0
        first, refits, kinds = None, 0, {"model": 0, "local": 0, "random": 0}
        tried, real = np.zeros((0, family.action_dim)), np.zeros(0)
        for attempt in range(1, attempts + 1):
            action, kind = None, "local"
            searching = archive is not None and refits < cfg.refits and archive.best() is not None
            if cfg.local_every and not searching and len(tried) and attempt % cfg.local_every == 0:
                near = local_candidates(rng, tried, real, cfg)
                if len(near):
                    ranked = scorer is not None and len(near) > 1
                    action = near[int(np.argmax(scorer(near)))] if ranked else near[0]
            if action is None and archive is not None:
                action, kind = archive.best(), "model"
            if action is None:
                action, kind = rng.uniform(-1.0, 1.0, family.action_dim), "random"
            kinds[kind] += 1
            outcome = family.attempt(task, action, stop_early=True)
            if outcome.success:
                first = attempt
                break
            if cfg.local_every:
                tried = np.concatenate([tried, np.asarray(action, dtype=np.float64)[None]])
                real = np.append(real, attempt_score(task, outcome.states))
            if archive is None:
                continue
            archive.strike_near(action, cfg.tried_radius)
            if refits < cfg.refits and archive.best() is not None:
                refits += 1
                mean, std = refit(archive, cfg.elites, cfg.min_std)
                population = _sample(rng, mean, std, cfg.population)
                archive.add(population, scorer(population))
        usage = {} if scorer is None else {
            "model_calls": scorer.calls, "imagined_transitions": scorer.transitions,
            "model_seconds": round(scorer.seconds, 2), "best_imagined_p": round(best_p, 3)}
        return first, {**usage, "seconds": round(time.perf_counter() - start, 2),
                       "solved_by": kind if first is not None else None,
                       "attempts_by_kind": kinds, **details}


def evaluate_world_model(split: str, agent: str, model: ObjectDiffusionModel,
                         config: PuzzleSolverConfig | None = None, attempts: int = 100,
                         tasks_per_template: int | None = None, seed: int = 0, llm=None,
                         templates: Sequence[str] | None = None, progress=None) -> dict:
    """``cem+wm`` or ``llm+cem`` on the puzzles-v0 task set of ``split`` (AUCCESS as for the
    random agent, ``envs.puzzles.benchmark.evaluate_agent``).

    Args:
        llm: the backend (``planners.make_backend``) for ``llm+cem``.
        templates: only these templates' tasks (None: all of the split).
    """
    from foretell.envs.puzzles.benchmark import evaluate_agent

    from .puzzle_prompts import LLMProposer

    if agent not in AGENTS:
        raise ValueError(f"unknown puzzle agent {agent!r}; world-model agents are {AGENTS}")
    if (agent == "llm+cem") != (llm is not None):
        raise ValueError(f"agent {agent} {'needs' if agent == 'llm+cem' else 'takes no'} LLM backend")
    config = config or PuzzleSolverConfig()
    propose = LLMProposer(llm, config) if llm is not None else None
    solver = WorldModelPuzzleAgent(model, config, propose)
    result = evaluate_agent(split, agent, solver.first_success, attempts, tasks_per_template, seed, progress,
                            templates=templates)
    result["solver"] = asdict(config)
    if llm is not None:
        result["llm_usage"] = llm.usage.to_dict()
    return result


def ranking_quality(split: str, model: ObjectDiffusionModel, config: PuzzleSolverConfig | None = None,
                    candidates: int = 160, tasks_per_template: int | None = None, seed: int = 0,
                    templates: Sequence[str] | None = None, progress=None) -> dict:
    """How well a world model ranks actions, apart from any search: per task, ``candidates``
    uniform actions (the task's own generator, ``task_rng``) are attempted in the simulator and
    scored by ``WorldModelScorer`` (``config.score``, ``samples``, ``sampling_steps``, ``frames``);
    the result is each task's AUROC of the score against the simulator's verdict (nan where the
    candidates hold one class), the share of candidates that succeed and their mean imagined
    p(success), and the mean AUROC over the tasks that have one, overall and per template.
    """
    from foretell.envs.puzzles.benchmark import families, task_rng, task_set
    from foretell.metrics import auroc

    if candidates < 2:
        raise ValueError(f"candidates must be >= 2, got {candidates}")
    config = config or PuzzleSolverConfig()
    tasks = task_set(split, tasks_per_template)
    if templates is not None:
        unknown = sorted(set(templates) - {t.template for t in tasks})
        if unknown:
            raise ValueError(f"templates {unknown} are not in split {split}; it has "
                             f"{sorted({t.template for t in tasks})}")
        tasks = [t for t in tasks if t.template in set(templates)]
    by_family = {f.name: f for f in families()}
    rows = []
    for task in progress(tasks) if progress else tasks:
        fam, rng = by_family[task.family], task_rng(seed, task)
        actions = rng.uniform(-1.0, 1.0, (candidates, fam.action_dim))
        truth = np.array([fam.attempt(task, a, stop_early=True).success for a in actions])
        generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        scorer = WorldModelScorer(model, PuzzleScene.from_task(fam, task), config, generator)
        scores, p = [], []
        for start in range(0, candidates, config.population):
            scores.append(scorer(actions[start:start + config.population]))
            p.append(scorer.last_p)
        scores, p = np.concatenate(scores), np.concatenate(p)
        rows.append({"task_id": task.task_id, "template": task.template, "auroc": auroc(scores, truth),
                     "success_rate": float(truth.mean()), "imagined_p": float(p.mean())})

    def summary(part: list[dict]) -> dict:
        scored = [r["auroc"] for r in part if not np.isnan(r["auroc"])]
        return {"n": len(part), "tasks_with_auroc": len(scored),
                "auroc": float(np.mean(scored)) if scored else float("nan"),
                "success_rate": float(np.mean([r["success_rate"] for r in part])),
                "imagined_p": float(np.mean([r["imagined_p"] for r in part]))}

    return {"benchmark": "puzzles-v0", "diagnostic": "ranking", "split": split, "candidates": candidates,
            "seed": seed, "solver": asdict(config), **summary(rows),
            "per_template": {t: summary([r for r in rows if r["template"] == t])
                             for t in dict.fromkeys(r["template"] for r in rows)},
            "results": rows}


def puzzle_agent_inputs(agent: str, world_model: str | Path | None = None, llm: dict | None = None,
                        record: str | Path | None = None) -> tuple[ObjectDiffusionModel | None, object]:
    """What a puzzle agent needs, loaded: the world model from its run folder (``cem+wm``,
    ``llm+cem``) and the LLM backend from a ``make_backend`` spec (``llm+cem``; calls appended to
    ``record``). ``random`` and ``random+local`` need neither.

    Raises:
        ValueError: a world-model agent without ``world_model``.
    """
    model = backend = None
    if agent not in BASELINES:
        if world_model is None:
            raise ValueError(f"puzzle agent {agent} needs --world-model RUN (a passive model trained on puzzle "
                             "attempts)")
        model = load(world_model, kind="object")
    if agent == "llm+cem":
        from .backends import make_backend

        backend = make_backend(**(llm or {"kind": "local"}), record=record)
    return model, backend


def run_puzzle_agent(split: str, agent: str, world_model: ObjectDiffusionModel | None = None,
                     config: PuzzleSolverConfig | None = None, attempts: int = 100,
                     tasks_per_template: int | None = None, seed: int = 0, llm=None,
                     templates: Sequence[str] | None = None, progress=None) -> dict:
    """Any puzzles-v0 agent, ``random``, ``random+local``, ``cem+wm`` or ``llm+cem``, on the task set of ``split``
    (what ``foretell eval puzzles`` and ``foretell plan --task puzzles-v0`` run).

    Raises:
        ValueError: an unknown agent, or a world-model agent without ``world_model``.
    """
    from foretell.envs.puzzles.benchmark import evaluate_agent, random_first_success

    if agent == "random":
        return evaluate_agent(split, agent, random_first_success, attempts, tasks_per_template, seed, progress,
                              templates=templates)
    if agent == "random+local":
        config = config or PuzzleSolverConfig(local_every=RANDOM_LOCAL_EVERY)
        if not config.local_every:
            raise ValueError("agent random+local needs local_every >= 1 (with 0 it is the random agent)")
        result = evaluate_agent(split, agent, WorldModelPuzzleAgent(None, config).first_success, attempts,
                                tasks_per_template, seed, progress, templates=templates)
        return {**result, "solver": asdict(config)}
    if agent not in AGENTS:
        raise ValueError(f"unknown puzzle agent {agent!r}; valid: {', '.join(BASELINES + AGENTS)}")
    if world_model is None:
        raise ValueError(f"puzzle agent {agent} needs --world-model RUN (a passive model trained on puzzle attempts)")
    return evaluate_world_model(split, agent, world_model, config, attempts, tasks_per_template, seed, llm,
                                templates=templates, progress=progress)
