"""Running whole episodes: a policy loop with optional video frames, and the expert evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import gymnasium as gym
import numpy as np

from ..blockstack.expert import BlockStackExpert, LowLevelExpert, PerturbedExpert
from ..blockstack.explore import StackExplorer

POLICIES = ("auto", "expert", "noisy_expert", "explore", "random")


def make_policy(env: gym.Env, policy: str, seed: int, noise: float = 0.0) -> Callable[[], object]:
    """Return a zero-argument callable giving the next action for ``policy`` on ``env``.

    ``auto`` is the expert where the env has one, else random actions (passive scenarios have
    a single "watch" action). ``noisy_expert`` is the expert with a share ``noise`` of its
    actions not its own, so that episodes hold mistakes and recoveries: at high level each
    skill is, with probability ``noise``, a random one; at low level held random perturbations
    take over about that share of the steps (``PerturbedExpert``). ``noise=0`` is the expert.
    ``explore`` (BlockStack skills only) makes the moves a planner asks a world model about:
    seeded random stacking, mostly physics-blind towers (``blockstack.explore.StackExplorer``).

    Args:
        env: the env, already reset (the expert reads its scene).
        policy: one of ``POLICIES``.
        seed: seeds every random draw of the policy (random actions, perturbations).
        noise: for ``noisy_expert`` only, in [0, 1].

    Raises:
        ValueError: an unknown policy, an env without an expert, or ``noise`` out of range or
            given to a policy other than ``noisy_expert``.
    """
    if policy == "auto":
        policy = "expert" if env.unwrapped.family == "blockstack" else "random"
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; expected one of {POLICIES}")
    if noise != 0.0 and policy != "noisy_expert":
        raise ValueError(f"noise={noise} applies to policy 'noisy_expert' only, got policy={policy!r}")
    if policy == "random":
        env.action_space.seed(seed)
        return env.action_space.sample
    if env.unwrapped.family != "blockstack":
        raise ValueError(f"no expert for {env.spec.id if env.spec else env}")
    low_level = isinstance(env.action_space, gym.spaces.Box)
    if policy == "explore":
        if low_level:
            raise ValueError("policy 'explore' makes skills: use it on foretell/BlockStack-v0, not the low-level env")
        return StackExplorer(env, np.random.default_rng(seed)).act
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got noise={noise}")
    if policy == "expert" or noise == 0.0:
        return LowLevelExpert(env).act if low_level else BlockStackExpert(env).act
    rng = np.random.default_rng(seed)
    if low_level:
        return PerturbedExpert(env, noise, rng).act
    expert, space = BlockStackExpert(env).act, env.action_space
    space.seed(int(rng.integers(2**31)))

    def noisy_skill():  # with probability `noise`, a random skill instead of the expert's
        return space.sample() if rng.random() < noise else expert()
    return noisy_skill


def run_episode(env: gym.Env, policy: str, seed: int, frames: list | None = None,
                options: dict | None = None) -> dict:
    """Reset with ``seed``, act until the episode ends, and summarise the outcome.

    Args:
        frames: if given, RGB frames are appended to it (25 fps of simulated time).
    """
    start = time.perf_counter()
    _, info = env.reset(seed=seed, options=options)
    act = make_policy(env, policy, seed)
    if frames is not None:
        env.unwrapped.record_frames(frames)
        frames.append(env.unwrapped.snapshot_frame())
    steps, total_reward, events = 0, 0.0, 0
    terminated = truncated = False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(act())
        steps += 1
        total_reward += reward
        events += len(info["events"])
    if frames is not None:
        env.unwrapped.record_frames(None)
        frames.extend([env.unwrapped.snapshot_frame()] * int(env.metadata["render_fps"]))  # hold the end 1 s
    summary = {"seed": seed, "steps": steps, "reward": total_reward, "terminated": bool(terminated),
               "truncated": bool(truncated), "events": events, "sim_seconds": float(info["time"]),
               "wall_seconds": time.perf_counter() - start}
    if "goal" in info:  # a task with a goal (BlockStack)
        summary.update(
            success=bool(info["success"]), feasible=bool(info["feasible"]), goal=info["goal"]["predicates"],
            goal_kind=info["goal"]["kind"], needs_physics=info["goal"]["needs_physics"],
            instruction=env.unwrapped.instruction, stable=bool(info["stable"]),
            declared_infeasible=bool(info["skill"] and info["skill"]["name"] == "declare_infeasible"))
    if "contact_label" in info:  # a passive scenario
        summary.update(contact_label=info["contact_label"], agent=info["agent"], patient=info["patient"],
                       causal_graph=info.get("causal_graph"))
    return summary


def evaluate_expert(env_id: str, episodes: int, space: str, seed: int = 0,
                    progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """Run the expert on ``episodes`` seeds (``seed .. seed+episodes-1``) in property ``space``."""
    env = gym.make(env_id, space=space, obs_keys=("state",))
    seeds = range(seed, seed + episodes)
    results = [run_episode(env, "expert", s) for s in (progress(seeds) if progress else seeds)]
    env.close()
    feasible = [r for r in results if r["feasible"]]
    infeasible = [r for r in results if not r["feasible"]]
    physics = [r for r in feasible if r["needs_physics"]]

    def rate(rows: list[dict], key: str) -> float | None:
        return float(np.mean([r[key] for r in rows])) if rows else None

    return {
        "env": env_id, "space": space, "episodes": episodes, "seeds": [seed, seed + episodes - 1],
        "success_rate": rate(results, "success"),
        "feasible_episodes": len(feasible), "feasible_success_rate": rate(feasible, "success"),
        "infeasible_episodes": len(infeasible), "infeasible_declared_rate": rate(infeasible, "declared_infeasible"),
        "needs_physics_episodes": len(physics), "needs_physics_success_rate": rate(physics, "success"),
        "mean_steps_feasible": rate(feasible, "steps"), "mean_wall_seconds": rate(results, "wall_seconds"),
        "failures": [{k: r[k] for k in ("seed", "goal", "steps", "stable")} for r in results if not r["success"]],
    }


def _clean_scene_agreement(agree: np.ndarray, explained: np.ndarray, chaotic: np.ndarray) -> dict:
    """Agreement over *clean* episodes: those whose placebo re-simulation stays within the
    but-for tolerance (``ScenarioEnv.ground_truth``)."""
    if not len(chaotic):
        return {"clean_fraction": None, "clean_agreement_rate": None, "clean_agreement_rate_except_prevention": None}
    clean = ~chaotic
    return {"clean_fraction": float(clean.mean()),
            "clean_agreement_rate": float(agree[clean].mean()) if clean.any() else None,
            "clean_agreement_rate_except_prevention": float(explained[clean].mean()) if clean.any() else None}


def evaluate_scenario(env_id: str, episodes: int, space: str, seed: int = 0, but_for: bool = True,
                      progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """Label and ground-truth statistics of a passive scenario over seeds ``seed .. seed+episodes-1``.

    Reports the object-contact label rate (target 40-60%), direct-graph edge counts, and (with
    ``but_for``) how often the direct graph's transitive closure equals the total-effect graph,
    also once *prevention* effects are set aside (see ``ScenarioEnv.ground_truth``), and once
    pairs on the boundary of the trajectory tolerance are set aside too (``closure_agreement``).
    """
    env = gym.make(env_id, space=space, obs_keys=("state",))
    seeds = range(seed, seed + episodes)
    labels, edges, agreements, explained, boundary, chaotic, disagreements = [], [], [], [], [], [], []
    event_counts = {"contact": [], "topple": [], "break": []}
    for s in progress(seeds) if progress else seeds:
        env.reset(seed=s)
        terminated = truncated = False
        counts = dict.fromkeys(event_counts, 0)
        while not (terminated or truncated):
            _, _, terminated, truncated, info = env.step(0)
            for event in info["events"]:
                counts[event["type"]] += 1
        for kind, value in counts.items():
            event_counts[kind].append(value)
        labels.append(info["contact_label"])
        edges.append(len(info["causal_graph"]["edges"]))
        if but_for:
            agreement = env.unwrapped.ground_truth()["agreement"]
            agreements.append(agreement["agree"])
            # Agreement once prevention effects (which no factual contact chain can show) are set aside.
            unexplained = set(map(tuple, agreement["missing_in_direct"])) - set(map(tuple, agreement["prevention"]))
            explained.append(not unexplained and not agreement["extra_in_direct"])
            # ... and once pairs on the boundary of the trajectory tolerance are set aside too.
            unexplained |= set(map(tuple, agreement["extra_in_direct"]))
            boundary.append(not unexplained - set(map(tuple, agreement["near_threshold"])))
            chaotic.append(agreement["chaotic"])
            if not agreement["agree"]:
                disagreements.append({"seed": s, **agreement})
    env.close()
    return {"env": env_id, "space": space, "episodes": episodes, "seeds": [seed, seed + episodes - 1],
            "contact_rate": float(np.mean(labels)), "mean_direct_edges": float(np.mean(edges)),
            "mean_contact_events": float(np.mean(event_counts["contact"])),
            "topple_rate": float(np.mean(np.array(event_counts["topple"]) > 0)),
            "break_rate": float(np.mean(np.array(event_counts["break"]) > 0)),
            "closure_agreement_rate": float(np.mean(agreements)) if agreements else None,
            "agreement_rate_except_prevention": float(np.mean(explained)) if explained else None,
            "agreement_rate_except_prevention_and_boundary": float(np.mean(boundary)) if boundary else None,
            **_clean_scene_agreement(np.array(agreements), np.array(explained), np.array(chaotic, dtype=bool)),
            "prevention_episodes": sum(bool(d["prevention"]) for d in disagreements),
            "disagreements": disagreements}
