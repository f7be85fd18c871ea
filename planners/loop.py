"""The planner loop: observe -> describe -> propose K plans -> verify -> act -> replan.

One ``Planner`` runs every variant, so that variants differ only in where candidate plans come
from and how they are checked:

| variant | proposes | verifies |
|---|---|---|
| ``llm`` | the LLM (K constrained samples; the most frequent plan wins) | nothing |
| ``llm+wm`` | the LLM, with the world model's predicted failures fed back; then search seeded by its plans | the learned world model |
| ``llm+sim`` | the LLM, with the simulator's failures fed back; then search seeded by its plans | the simulator (oracle ceiling) |
| ``draft-verify`` | the small LLM drafts; only when no draft verifies, the large LLM proposes (told why the drafts fail); then search | the learned world model |
| ``cem+wm`` | cross-entropy search over skill sequences (no LLM) | the learned world model |
| ``random`` | uniformly random pick-and-place steps | nothing |
| ``blind`` | a physics-blind order the instruction allows | nothing |
| ``expert`` | the privileged scripted expert (reference) | nothing |

When no LLM plan reaches ``accept``, the verifying variants search on their verifier, starting
from the LLM's plans (``search.cem_plan(seeds=...)``: the LLM's plans are scored again beside
every single step, and the search samples around their steps), so the LLM says what to try and
the verifier finds what works nearby; ``search=False`` turns that off (the ablation).

The chosen plan is executed one skill at a time in MuJoCo; after each skill the planner checks
that what the skill was for actually happened (the object rests where it was put and the scene is
still). If it did not, it replans from what actually happened, and remembers the failure: the
history the LLM reads says the placement did not stay, and while the target rests where it did
then, no candidate plan may try that placement more than ``PlannerConfig.retries`` more times
(the verifier, a learned model above all, can be wrong where the real scene has just answered;
but one retry is cheap, and whether a ball stays on a tall tower turns on details no verifier
sees). The steps of the chosen plan that were not executed seed the next decision's search (the
warm start of receding-horizon control), so a plan found once is not lost to one failed step.
Model text is parsed as JSON and validated against the scene (``plans.parse_plan``) and against
Blocksworld's preconditions from the perceived support relations (``plans.check_preconditions``:
what is moved and where it goes must be clear), with the reason fed back as a plan validator's
would be; it is never executed as code.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from foretell.envs.blockstack.env import MAX_WAIT_SECONDS
from foretell.envs.blockstack.expert import BlockStackExpert
from foretell.envs.sim import physics

from .plans import MAX_PLAN_STEPS, action_text, check_preconditions, parse_plan, plan_schema
from .prompts import build_prompt, describe_scene, feedback_for_rejection
from .search import cem_plan, random_action
from .tasks import PlanTask, aim_at_axis, make_env, moves_to_actions, physics_blind_plan, symbolic_state
from .verify import SimulatorVerifier, WorldModelVerifier
from .video import EpisodeVideo

PLANNERS = ("llm", "llm+wm", "llm+sim", "draft-verify", "cem+wm", "random", "blind", "expert")
NEEDS_LLM = ("llm", "llm+wm", "llm+sim", "draft-verify")
NEEDS_WORLD_MODEL = ("llm+wm", "draft-verify", "cem+wm")


@dataclass
class PlannerConfig:
    """How a planner decides. Defaults run on a laptop CPU.

    Attributes:
        planner: one of ``PLANNERS``.
        candidates: K plans sampled from the LLM per round.
        rounds: proposal rounds per decision (later rounds see the verifier's failure reasons;
            ``draft-verify``: the first round is the small LLM's drafts, the later ones the large
            LLM's, asked only when no draft verifies). None: 1, or 2 for ``draft-verify``. One is
            the default since a second round of the embedded LLM has never produced a verified plan
            (val, 10 tasks: 1 round 90% at 48 s per episode, 2 rounds 80% at 82 s).
        accept: a verified plan with at least this success probability is taken at once.
        infeasible_below: if no plan reaches this probability after every round and a candidate
            declared the goal infeasible, the planner declares it.
        samples: S world-model samples per plan.
        sampling_steps: diffusion sampling steps per imagined transition.
        temperature, max_tokens: LLM sampling.
        max_decisions: decisions (each may propose, verify and act) per episode.
        search: (``llm+wm``, ``llm+sim``) when no LLM plan reaches ``accept``, search on the
            verifier seeded by the LLM's plans.
        arrange: the search asks the verifier which arrangements satisfying the goal can stand
            (``arrange.plan_arrangements``): their move plans seed it, and it declares the goal
            infeasible only when none is likely to stand (False: the ablation, which declares
            whenever the search finds nothing).
        retries: a placement that did not stay may be tried this many more times before it is
            refused (while its target rests where it did). Whether a ball stays on top of a tall
            tower turns on a tilt of a degree and on where it is released: on stack-physics-v0
            test/020, a ball that rolled off the reference tower stays at the second try. Three:
            replaying the search's first plans for the 30 val towers with a ball under 8
            placement-noise seeds, the goal is reached in 65.8% of runs with one repeat, 69.2%
            with three, and no more with six (`foretell eval plans`; docs/results.md, session 15).
            The replay does not count that every repeat spends a decision (``max_decisions``): on
            the test split, `llm+wm` scored 82% with three and 84% with one.
        wait: after a step that ended with the scene still moving (the env settles for at most
            5 s), wait up to this many more seconds for it to come to rest (the env's named
            ``wait``, no step of the budget) before judging the step and replanning; 0 replans at
            once, on the moving scene. 5 won two of 50 val tasks over 0 and lost none; on test, run
            once after that choice, 88% against 82% (three won, none lost; session 19,
            docs/results.md).
        aim: every variant aims a placement on an object at the axis of the pile it goes on
            (``tasks.aim_at_axis``: at most 1 cm off the target's centre) instead of the target's
            centre, so that placement misses do not add up along a pile and tilt its top. The
            plans, the learned verifier and the LLM's history keep the un-aimed placement (the
            offsets are millimetres); the simulator verifier (``llm+sim``) aims as the execution
            does; the episode's ``actions`` record what was executed. False: the ablation, the
            rule before session 20.
        seed: seeds the LLM sampling, the world model's noise and the search.
    """

    planner: str = "llm+wm"
    candidates: int = 6
    rounds: int | None = None
    accept: float = 0.6
    infeasible_below: float = 0.15
    samples: int = 8
    sampling_steps: int = 4
    temperature: float = 0.8
    max_tokens: int = 192
    max_decisions: int = 6
    search: bool = True
    arrange: bool = True
    retries: int = 3
    wait: float = 5.0
    aim: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.planner not in PLANNERS:
            raise ValueError(f"unknown planner {self.planner!r}; valid planners: {', '.join(PLANNERS)}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if not 0.0 <= self.wait <= MAX_WAIT_SECONDS:
            raise ValueError(f"wait must be in [0, {MAX_WAIT_SECONDS:g}] seconds, got {self.wait}")
        if self.rounds is None:
            self.rounds = 2 if self.planner == "draft-verify" else 1
        if self.planner == "draft-verify" and self.rounds < 2:
            raise ValueError(f"draft-verify needs rounds >= 2 (round 1 drafts, the later rounds ask the larger "
                             f"backend), got rounds={self.rounds}")
        for name in ("candidates", "rounds", "samples", "sampling_steps", "max_tokens", "max_decisions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {name}={getattr(self, name)}")
        for name in ("accept", "infeasible_below"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {name}={getattr(self, name)}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")


@dataclass
class Decision:
    """One decision: what was proposed, how it scored, and what was chosen."""

    proposals: int
    valid: int
    best_p: float | None
    plan: list[dict]
    feedback: list[str] = field(default_factory=list)
    searched: bool = False  # the plan came from the verifier-side search (seeded by the LLM's plans)

    def to_dict(self) -> dict:
        return {"proposals": self.proposals, "valid": self.valid,
                "best_p": None if self.best_p is None else round(self.best_p, 4),
                "plan": [action_text(a) for a in self.plan], "feedback": self.feedback, "searched": self.searched}


@dataclass
class EpisodeResult:
    task_id: str
    planner: str
    success: bool
    steps: int
    declared_infeasible: bool
    feasible: bool
    decisions: list[Decision]
    actions: list[str]
    llm: dict
    verifier: dict
    wall_s: float
    large_llm: dict = field(default_factory=dict)  # draft-verify: the larger backend's usage
    waits: int = 0  # the env waits after a step that left the scene moving (``PlannerConfig.wait``)

    def to_dict(self) -> dict:
        return {"task_id": self.task_id, "planner": self.planner, "success": self.success, "steps": self.steps,
                "declared_infeasible": self.declared_infeasible, "feasible": self.feasible,
                "decisions": [d.to_dict() for d in self.decisions], "actions": self.actions, "llm": self.llm,
                "large_llm": self.large_llm, "verifier": self.verifier, "wall_s": round(self.wall_s, 3),
                "waits": self.waits}


class Planner:
    """Runs planning episodes with one variant.

    Args:
        config: the variant and its settings.
        llm: an ``LLMBackend`` (``planners.llm.make_backend``) for the LLM variants (``draft-verify``:
            the small, fast one that drafts).
        world_model: a loaded skill world model (``foretell.worldmodel.load``) for ``llm+wm``,
            ``draft-verify`` and ``cem+wm``.
        large_llm: ``draft-verify``: the larger backend, asked only when no draft verifies; its
            tokens are accounted apart (``EpisodeResult.large_llm``).
    """

    def __init__(self, config: PlannerConfig, llm=None, world_model=None, large_llm=None) -> None:
        self.config = config
        if config.planner in NEEDS_LLM and llm is None:
            raise ValueError(f"planner {config.planner!r} needs an LLM backend (--llm)")
        if (config.planner == "draft-verify") != (large_llm is not None):
            raise ValueError("planner 'draft-verify' needs a larger LLM backend (--large-llm) beside the drafting "
                             "one (--llm)" if large_llm is None else
                             f"a larger LLM backend (--large-llm) is used by planner 'draft-verify' only, "
                             f"not {config.planner!r}")
        if config.planner in NEEDS_WORLD_MODEL and world_model is None:
            raise ValueError(f"planner {config.planner!r} needs a world model (--world-model RUN, trained with "
                             f"`foretell train world` on BlockStack-v0 data)")
        self.llm, self.large_llm = llm, large_llm
        self.verifier = None
        if config.planner in NEEDS_WORLD_MODEL:
            self.verifier = WorldModelVerifier(world_model, config.samples, config.sampling_steps, config.seed)
        elif config.planner == "llm+sim":
            self.verifier = SimulatorVerifier(aim=config.aim)

    # ------------------------------------------------------------------ episodes
    def run(self, task: PlanTask, frames: list | None = None) -> EpisodeResult:
        """Run one task to its end: success, a declaration, the step budget or the decision budget."""
        start = time.perf_counter()
        llm_before = self.llm.usage.to_dict() if self.llm is not None else {}
        large_before = self.large_llm.usage.to_dict() if self.large_llm is not None else {}
        verifier_before = self.verifier.stats.to_dict() if self.verifier is not None else {}
        env, _, info = make_env(task, render_mode="rgb_array" if frames is not None else None)
        video = EpisodeVideo(frames) if frames is not None else None
        try:
            if frames is not None:
                env.unwrapped.record_frames(frames)
            rng = np.random.default_rng([self.config.seed, task.seed])
            if hasattr(self.verifier, "start_episode"):
                self.verifier.start_episode(task.seed)
            success, declared, steps, waits, actions, decisions = False, False, 0, 0, [], []
            blind = physics_blind_plan(task, env) if self.config.planner == "blind" else None
            expert = BlockStackExpert(env.unwrapped) if self.config.planner == "expert" else None
            history: list[str] = []
            failed: Counter[tuple[str, str, str | None]] = Counter()  # (object, target, what the target rested on)
            remainder: list[dict] = []  # the last plan's steps not executed: the next search's warm start
            done = False
            one_step = self.config.planner in ("expert", "random")  # one action per decision
            for decision_index in range(task.max_steps if one_step else self.config.max_decisions):
                if done:
                    break
                if expert is not None:
                    decision = Decision(0, 0, None, [expert.act()])
                elif blind is not None:
                    decision = Decision(1, 1, None, blind if decision_index == 0 else [])
                elif self.config.planner == "random":
                    decision = Decision(1, 1, None, [random_action(env.unwrapped, rng)])
                else:
                    decision = self.decide(env, rng, history, decision_index,
                                           _blocked(env, failed, self.config.retries), remainder)
                decisions.append(decision)
                if not decision.plan:
                    break
                if video is not None:
                    video.decided(env, self.verifier, decision.plan)
                for executed, action in enumerate(decision.plan, start=1):
                    remainder = [a for a in decision.plan[executed:] if a.get("skill") == "pick_place"]
                    support = symbolic_state(env).get(action.get("target")) if action.get("skill") == "pick_place" \
                        else None
                    first_frame = len(frames) if frames is not None else 0
                    made = aim_at_axis(env, action) if self.config.aim else action
                    terminated, truncated, info, waited = step_and_wait(env, made, self.config.wait)
                    waits += waited
                    if video is not None:
                        video.executed(first_frame, action_text(action), executed - 1)
                    steps += 1
                    actions.append(action_text(made))
                    declared = action.get("skill") == "declare_infeasible"
                    success = bool(info["success"])
                    done = terminated or truncated
                    achieved = _achieved(env, action, info)
                    history.append(action_text(action) + ("" if achieved or done else " (it did not stay)"))
                    if not achieved and action.get("skill") == "pick_place" and action["target"] != "table":
                        failed[(action["object"], action["target"], support)] += 1
                    if done or not achieved:
                        break  # replan from what actually happened
            if video is not None:
                video.compose()
            return EpisodeResult(task.task_id, self.config.planner, success, steps, declared, task.feasible,
                                 decisions, actions, _delta(self.llm.usage.to_dict() if self.llm else {}, llm_before),
                                 _delta(self.verifier.stats.to_dict() if self.verifier else {}, verifier_before),
                                 time.perf_counter() - start,
                                 _delta(self.large_llm.usage.to_dict() if self.large_llm else {}, large_before), waits)
        finally:
            env.close()

    # ------------------------------------------------------------------ one decision
    def decide(self, env, rng: np.random.Generator, history: Sequence[str] = (), decision_index: int = 0,
               blocked: Collection[tuple[str, str]] = frozenset(), warm: Sequence[dict] = ()) -> Decision:
        """One decision of a proposing variant (``cem+wm`` or an LLM variant) from ``env``'s scene:
        ``history``, the executed steps as the LLM reads them; ``blocked``, placements refused;
        ``warm``, the previous plan's unexecuted steps."""
        if self.config.planner == "cem+wm":
            plan, p = cem_plan(env, self.verifier, rng, seeds=[list(warm)] if warm else (), exclude=blocked,
                               arrange=self.config.arrange)
            return Decision(1, 1, p, plan)
        return self._decide(env, list(history), decision_index, rng, blocked, warm)

    def _decide(self, env, history: list[str], decision_index: int, rng: np.random.Generator,
                blocked: Collection[tuple[str, str]] = frozenset(), warm: Sequence[dict] = ()) -> Decision:
        """Propose, verify and choose one plan (the LLM variants); plans with a ``blocked``
        (object, target) placement (one that failed in this scene) are rejected; ``warm``: the
        previous plan's unexecuted steps, one more seed of the search."""
        base = env.unwrapped
        names, goal = list(base.object_names), base.goal
        on, on_table = physics.support_matrix(base.tabletop.scene, base.tabletop.data)
        scene_text = describe_scene(base.objects, names, on, on_table)
        below = symbolic_state(env)
        schema = plan_schema(names, MAX_PLAN_STEPS, offsets=False)  # what goes where; table spots are ours
        feedback: list[str] = []
        proposals = valid_total = 0
        best: tuple[tuple, list[dict]] | None = None  # (rank key, plan)
        pool: dict[str, list[dict]] = {}  # every acting plan the LLM proposed: the search's seeds
        if warm:
            pool[_key(list(warm))] = list(warm)
        declared_seen = False
        for round_index in range(self.config.rounds):
            prompt = build_prompt(base.instruction, scene_text, history, feedback)
            seed = int(self.config.seed * 1_000_003 + decision_index * 101 + round_index)
            llm = self.large_llm if round_index > 0 and self.large_llm is not None else self.llm
            texts = llm.complete(prompt, n=self.config.candidates, temperature=self.config.temperature,
                                 max_tokens=self.config.max_tokens, json_schema=schema, seed=seed)
            proposals += len(texts)
            plans, rejected = [], []
            for text in texts:
                check = parse_plan(text, names)
                repeat = next((a for a in check.actions if _pair(a) in blocked), None) if check.ok else None
                holds, why = check_preconditions(check.actions, below) if check.ok else (0, "")
                if repeat is not None:
                    rejected.append(f"{repeat['object']} on {repeat['target']} was tried and did not stay")
                elif holds < len(check.actions):
                    step = action_text(check.actions[holds])
                    rejected.append(f"a plan was rejected: step {holds + 1}, {step}: {why}")
                elif check.ok and check.actions:
                    plans.append(_placed(env, list(check.actions)))
                elif not check.ok:
                    rejected.append(feedback_for_rejection(check))
            valid_total += len(plans)
            feedback = sorted(set(rejected))[:2]
            if not plans:
                continue
            if self.verifier is None:  # `llm`: self-consistency, the most frequent plan
                counts = Counter(_key(p) for p in plans)
                plan = next(p for p in plans if _key(p) == counts.most_common(1)[0][0])
                return Decision(proposals, valid_total, None, plan, feedback)
            unique = list({_key(p): p for p in plans}.values())
            acting = [p for p in unique if p[0].get("skill") != "declare_infeasible"]
            declared_seen = declared_seen or len(acting) < len(unique)
            if self.config.planner == "llm+sim" and declared_seen:
                acting = unique  # the oracle can check a declaration too
            if not acting:
                continue
            pool.update((_key(p), p) for p in acting)
            scores = self.verifier.score(env, acting, goal)
            order = scores.ranking()
            top = int(order[0])
            if best is None or scores.key(top) > best[0]:
                best = (scores.key(top), acting[top])
            if best[0][0] >= self.config.accept:
                break
            feedback += [why for why in dict.fromkeys(scores.why[int(c)] for c in order[:3]) if why]
        if self.verifier is not None and self.config.search and (best is None or best[0][0] < self.config.accept):
            plan, p = cem_plan(env, self.verifier, rng, seeds=list(pool.values()), exclude=blocked,
                               arrange=self.config.arrange)
            return Decision(proposals, valid_total, p, plan, feedback, searched=True)
        if best is None:
            return Decision(proposals, valid_total, None, [{"skill": "declare_infeasible"}] if declared_seen else [],
                            feedback)
        oracle = self.config.planner == "llm+sim"  # it scored the declarations itself
        if best[0][0] < self.config.infeasible_below and declared_seen and not oracle:
            return Decision(proposals, valid_total, best[0][0], [{"skill": "declare_infeasible"}], feedback)
        return Decision(proposals, valid_total, best[0][0], best[1], feedback)


def step_and_wait(env, action: dict, wait: float) -> tuple[bool, bool, dict, bool]:
    """``env.step(action)``; if that left the scene moving, the env's named ``wait`` of at most
    ``wait`` seconds (``PlannerConfig.wait``). Returns (terminated, truncated, info, whether it waited)."""
    *_, terminated, truncated, info = env.step(action)
    if terminated or truncated or info["stable"] or wait <= 0:
        return terminated, truncated, info, False
    *_, terminated, truncated, info = env.step({"skill": "wait", "seconds": wait})
    return terminated, truncated, info, True


def _placed(env, plan: list[dict]) -> list[dict]:
    """A plan with every move to the table sent to a free table spot (tracked through the plan)."""
    if any(a.get("skill") != "pick_place" for a in plan):
        return plan
    return moves_to_actions(env, [(a["object"], a["target"]) for a in plan])


def _pair(action: dict) -> tuple[str, str] | None:
    """(object, target) of a placement on an object; None for anything else."""
    if action.get("skill") != "pick_place" or action.get("target") in (None, "table"):
        return None
    return action["object"], action["target"]


def _blocked(env, failed: Counter[tuple[str, str, str | None]], retries: int) -> set[tuple[str, str]]:
    """The placements (object, target) that failed more than ``retries`` times while their target
    rested where it rests now."""
    if not failed:
        return set()
    below = symbolic_state(env)
    return {(obj, target) for (obj, target, support), times in failed.items()
            if times > retries and target in below and below[target] == support}


def _key(plan: list[dict]) -> str:
    return " ; ".join(action_text(a) for a in plan)


def _achieved(env, action: dict, info: dict) -> bool:
    """Whether a skill did what it was for: the moved object rests on its target, the scene is still."""
    if not info.get("stable", False):
        return False
    if action.get("skill") != "pick_place":
        return True
    base = env.unwrapped
    names = list(base.tabletop.scene.names)
    if action["object"] not in names:
        return False
    on, on_table = physics.support_matrix(base.tabletop.scene, base.tabletop.data)
    i = names.index(action["object"])
    if action["target"] == "table":
        return bool(on_table[i])
    return action["target"] in names and bool(on[i, names.index(action["target"])])


def _delta(after: dict, before: dict) -> dict:
    return {k: (round(v - before.get(k, 0), 3) if isinstance(v, (int, float)) else v) for k, v in after.items()}


def summarise(results: list[EpisodeResult]) -> dict:
    """Success rate and the costs of a list of episodes."""
    n = len(results)
    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else 0.0
    feasible = [r for r in results if r.feasible]
    infeasible = [r for r in results if not r.feasible]
    return {
        "episodes": n,
        "success_rate": mean([float(r.success) for r in results]),
        "success_rate_feasible": mean([float(r.success) for r in feasible]) if feasible else None,
        "success_rate_infeasible": mean([float(r.success) for r in infeasible]) if infeasible else None,
        "mean_steps": mean([r.steps for r in results]),
        "waits": int(sum(r.waits for r in results)),
        "llm_completion_tokens": int(sum(r.llm.get("completion_tokens", 0) for r in results)),
        "llm_prompt_tokens": int(sum(r.llm.get("prompt_tokens", 0) for r in results)),
        "large_llm_completion_tokens": int(sum(r.large_llm.get("completion_tokens", 0) for r in results)),
        "large_llm_prompt_tokens": int(sum(r.large_llm.get("prompt_tokens", 0) for r in results)),
        "verifier_calls": int(sum(r.verifier.get("calls", 0) for r in results)),
        "world_model_transitions": int(sum(r.verifier.get("transitions", 0) for r in results)),
        "wall_s": round(float(sum(r.wall_s for r in results)), 2),
    }
