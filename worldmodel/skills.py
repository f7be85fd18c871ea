"""Skill outcomes: does a BlockStack skill leave a still scene with the goal's predicates true?

For every recorded skill step of BlockStack datasets (one frame per skill: the state after the
skill and the settling), a skill model samples S states after the step from the state before it
and the skill; the prediction is the share of samples in which the goal holds (on
``support_from_poses``) and every object is still (``readouts.goal_stable``). It is scored
against the truth after the step with ``foretell.metrics`` (accuracy, AUROC, Brier, ECE with 15
bins), per dataset, next to baselines on the same steps:

- ``majority``: the evaluated steps' own positive rate for every step (the best constant);
- ``persistence``: the truth before the step (a skill changes nothing);
- ``simulator`` (``simulator=True``): the env re-run from the recorded state before the step
  (objects reset at their recorded poses, the recorded goal, the same skill; its placement
  noise and a 0.3 s settle at reset differ from the recording) - a ceiling, not a competitor.

**Truth.** Episode files hold no per-step predicate truth, but ``reward`` is the env's own
success per step: for a feasible goal, 1 exactly when the goal's predicates hold and the scene is
still (settled within 5 s) after the step. That is the truth for feasible goals. For infeasible
goals (reward is only ever paid for ``declare_infeasible``) the truth is derived from the
recorded state after the step with ``readouts.goal_stable``; the derivation agrees with reward
on feasible steps at the rate reported as ``derived_truth_agreement``. ``declare_infeasible``
steps move nothing and are not scored.

**Placements**, the question a planner's verifier answers most: for every ``pick_place`` onto an
object, does the moved object end resting on its target with the scene still? Truth from the
recorded state after the step, the prediction from the same samples (``support`` with the same
touching gap), reported per target shape (``placements``), since that is where held-out physics
differs (nothing stays on a ball).

    foretell eval skills --model runs/wm/skill-A --data runs/data/skills-B-test --json
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from foretell.data import EpisodeFile, read_meta
from foretell.data.schema import EPISODE_DIR, episode_name
from foretell.metrics import binary_metrics, majority_baseline

from .actions import encode_skill, skill_rows
from .ensemble import ModelEnsemble
from .object_diffusion import ObjectDiffusionModel
from .readouts import goal_stable, still, support

SKILL_TOLERANCE = 0.02
"""m, touching gap of the support read-out on *predicted* states (5 mm on simulated ones): chosen
on the space-A validation set among 5 to 30 mm (accuracy rose to 20 mm, then flat) (docs/results.md, "Skill outcomes")."""


def read_skill_steps(path: str | Path) -> list[dict]:
    """Every scored skill step of the BlockStack dataset ``path``, with what the evaluation needs:
    ``history`` (frames up to the step, oldest first), ``after`` (the recorded state after it),
    ``mask``, ``properties``, ``action`` (its JSON), ``reward``, the episode's ``objects``
    (``ObjectSpec``), ``names``, ``goal`` (predicate strings) and ``feasible``."""
    from foretell.envs import ObjectSpec  # here: importing the envs loads MuJoCo

    root = Path(path)
    meta = read_meta(root)
    steps = []
    for i in range(meta.config.episodes):
        file = root / EPISODE_DIR / episode_name(i)
        if not file.exists():
            continue
        with EpisodeFile(file) as ep:
            attrs = ep.attrs
            if "BlockStack-v0" not in attrs["env_id"]:
                raise ValueError(f"{file} holds {attrs['env_id']} episodes; skill outcomes need foretell/BlockStack-v0")
            states = ep.frames("state").astype(np.float32)  # (T, 6, 13)
            mask = ep.frames("object_mask").astype(bool)  # (T, 6)
            props = ep.frames("properties").astype(np.float32) if "properties" in meta.config.obs_keys else None
            actions, rewards = ep.strings("action_json"), ep.h5["reward"][()]
            stored, outcome = ep.json("objects"), ep.json("outcome")
        names = attrs["object_names"]
        names = json.loads(names) if isinstance(names, str) else list(names)
        objects = [ObjectSpec(**o) for o in stored]
        if [o.name for o in objects] != names:
            raise ValueError(f"{file}: json/objects names {[o.name for o in objects]} differ from {names}")
        for t, raw in enumerate(actions):
            action = json.loads(raw)
            if isinstance(action, dict) and action.get("skill") in ("declare_infeasible", 2):
                continue
            steps.append({"source": f"{root.name}/{file.name}", "step": t, "history": states[:t + 1],
                          "after": states[t + 1], "mask": mask[t + 1] & mask[t],
                          "properties": None if props is None else props[t], "action": action,
                          "reward": float(rewards[t]), "objects": objects, "names": names,
                          "goal": outcome["goal"]["predicates"], "feasible": bool(outcome["goal"]["feasible"])})
    if not steps:
        raise ValueError(f"dataset {root} holds no scored skill step")
    return steps


def _truth(step: dict, state: np.ndarray) -> bool:
    """Goal holds and still, derived from a recorded state ``(6, 13)``."""
    n = len(step["objects"])
    return bool(goal_stable(state[:n], step["goal"], step["objects"], step["mask"][:n]))


def placement(step: dict) -> tuple[int, int] | None:
    """(object row, target row) of a step that puts an object on another object; None otherwise."""
    action = step["action"]
    if not isinstance(action, dict):
        return None
    name, obj, target = skill_rows(action, step["names"])
    if name != "pick_place" or target is None or target < 0 or obj == target:
        return None
    return obj, target


def placement_stays(states: np.ndarray, step: dict, tolerance: float | None = None) -> np.ndarray:
    """Does the placed object rest on its target with everything still? states ``(..., 6, 13)`` -> ``(...,)``."""
    obj, target = placement(step)
    n = len(step["objects"])
    on, _ = support(states[..., :n, :], step["objects"], step["mask"][:n], tolerance)
    return on[..., obj, target] & still(states[..., :n, :], step["mask"][:n])


@torch.no_grad()
def predict_steps(model: ObjectDiffusionModel | ModelEnsemble, steps: Sequence[dict], num_samples: int = 16,
                  num_steps: int = 4, seed: int = 0, batch_size: int = 256,
                  tolerance: float | None = SKILL_TOLERANCE, stays: np.ndarray | None = None) -> np.ndarray:
    """p(goal holds and still after the step) of every step ``(len(steps),)``: the skill model's
    S samples (a ``ModelEnsemble``: S per member, pooled as ``imagine`` pools them), batched across
    steps and episodes (each episode's objects and goal read them);
    ``tolerance``: the touching gap of the support read-out on predicted states. ``stays``: if
    given ``(len(steps),)``, filled with p(``placement_stays``) for placements (NaN elsewhere)."""
    cfg = model.config
    if cfg.action_kind != "skill":
        raise ValueError(f"skill outcomes need a skill model (action_kind 'skill'), got {cfg.action_kind!r}")
    generator = torch.Generator().manual_seed(seed)
    members = model.members if isinstance(model, ModelEnsemble) else [model]
    k, h = cfg.history, cfg.horizon
    out = np.zeros(len(steps))
    for start in range(0, len(steps), batch_size):
        chunk = steps[start:start + batch_size]
        history = np.stack([_last_k(s["history"], k) for s in chunk])  # (B, K, 6, 13)
        mask = np.stack([s["mask"] for s in chunk])  # (B, 6)
        known = all(s["properties"] is not None for s in chunk)
        props = torch.from_numpy(np.stack([s["properties"] for s in chunk])) if known else None
        actions = np.stack([_action_row(s, h) for s in chunk])  # (B, H, A)
        samples = torch.cat([m.sample(torch.from_numpy(history), props, torch.from_numpy(mask),
                                      torch.from_numpy(actions), num_samples, num_steps, generator)
                             for m in members], dim=1)[:, :, 0].cpu().numpy()  # (B, S x M, 6, 13)
        for i, s in enumerate(chunk):  # episodes differ in objects and goal; samples are vectorised
            n = len(s["objects"])
            out[start + i] = goal_stable(samples[i, :, :n], s["goal"], s["objects"], s["mask"][:n],
                                         tolerance).mean()
            if stays is not None:
                stays[start + i] = placement_stays(samples[i], s, tolerance).mean() if placement(s) else np.nan
    return out


def _placement_scores(steps: Sequence[dict], stays: np.ndarray) -> dict:
    """Per target shape (and ``all``): how many placements, the share that stayed, and the model's
    ``binary_metrics`` on them."""
    rows = [i for i, s in enumerate(steps) if placement(s)]
    truth = {i: bool(placement_stays(steps[i]["after"], steps[i])) for i in rows}
    groups: dict[str, list[int]] = {"all": rows}
    for i in rows:
        groups.setdefault(steps[i]["objects"][placement(steps[i])[1]].shape, []).append(i)
    out = {}
    for shape, idx in sorted(groups.items()):
        if not idx:
            continue
        y = np.array([truth[i] for i in idx])
        out[shape] = {"n": len(idx), "stay_rate": float(y.mean()), "model": binary_metrics(stays[idx], y)}
    return out


def _last_k(history: np.ndarray, k: int) -> np.ndarray:
    """The last ``k`` frames ``(k, 6, 13)``, padded by repeating the first."""
    if len(history) >= k:
        return history[-k:]
    return np.concatenate([np.repeat(history[:1], k - len(history), axis=0), history])


def _action_row(step: dict, horizon: int) -> np.ndarray:
    """The step's skill, then no-ops: ``(H, A)`` (only the first predicted frame is scored)."""
    rows = np.stack([encode_skill(step["action"], step["names"])] + [encode_skill(None, step["names"])] *
                    (horizon - 1))
    return rows.astype(np.float32)


def simulate_steps(steps: Sequence[dict], seed: int = 0) -> np.ndarray:
    """The simulator ceiling: 1.0 where the env, reset at the recorded state before the step with
    the recorded goal and given the same skill, ends it with the goal held and the scene still."""
    import dataclasses

    import gymnasium as gym

    import foretell.envs  # noqa: F401 - registers the envs

    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    out = np.zeros(len(steps))
    for i, s in enumerate(steps):
        before = s["history"][-1]
        rows = np.flatnonzero(s["mask"][:len(s["objects"])])
        objects = [dataclasses.replace(s["objects"][r], pos=tuple(map(float, before[r, :3])),
                                       quat=tuple(map(float, before[r, 3:7]))) for r in rows]
        env.reset(seed=seed + i, options={"objects": objects, "goal": s["goal"]})
        *_, info = env.step(s["action"])
        out[i] = float(info["goal_satisfied"] and info["stable"])
    env.close()
    return out


def evaluate_skill_outcomes(model: ObjectDiffusionModel | ModelEnsemble, data_dirs: Sequence[str | Path], num_samples: int = 16,
                            seed: int = 0, num_steps: int = 4, simulator: bool = False,
                            tolerance: float | None = SKILL_TOLERANCE) -> dict:
    """Skill-outcome prediction per dataset of ``data_dirs`` (module docstring): the model's
    ``binary_metrics`` and the baselines' on the same steps, the label rate, step counts and the
    truth derivation's agreement with the env's per-step success."""
    results = {}
    for path in data_dirs:
        steps = read_skill_steps(path)
        derived = np.array([_truth(s, s["after"]) for s in steps])
        feasible = np.array([s["feasible"] for s in steps])
        reward = np.array([s["reward"] > 0.5 for s in steps])
        truth = np.where(feasible, reward, derived)
        before = np.array([_truth(s, s["history"][-1]) for s in steps])
        start = time.perf_counter()
        stays = np.full(len(steps), np.nan)
        probs = predict_steps(model, steps, num_samples, num_steps, seed, tolerance=tolerance, stays=stays)
        wall = time.perf_counter() - start
        entry = {"steps": len(steps), "episodes": len({s["source"] for s in steps}),
                 "positive_rate": float(truth.mean()), "feasible_steps": int(feasible.sum()),
                 "derived_truth_agreement": float((derived[feasible] == reward[feasible]).mean())
                 if feasible.any() else float("nan"),
                 "model": binary_metrics(probs, truth), "model_seconds": wall,
                 "majority": majority_baseline(truth), "persistence": binary_metrics(before.astype(float), truth)}
        if simulator:
            entry["simulator"] = binary_metrics(simulate_steps(steps, seed), truth)
        entry["placements"] = _placement_scores(steps, stays)
        results[str(path)] = entry
    return {"num_samples": num_samples, "num_steps": num_steps, "seed": seed, "tolerance": tolerance,
            "datasets": results}
