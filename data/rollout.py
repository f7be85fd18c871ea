"""Simulate one dataset episode into an in-memory record (``data.episode_file`` stores it).

A record depends only on the dataset config and the episode index: the env seed and the
policy seed come from ``schema.episode_seeds``, envs are built from the config alone, and
nothing reads global random state. That is what makes a dataset's bytes independent of the
worker count and the backend.
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import networkx as nx
import numpy as np

import foretell.envs  # noqa: F401 - registers the envs
from foretell.envs.measure.episodes import make_policy
from foretell.envs.measure.qa import questions

from .schema import FPS, DatasetConfig, TaskSpec, episode_seeds

_ENV_CACHE: dict[tuple, gym.Env] = {}


def _jsonable(value: Any) -> Any:
    """Numpy scalars and arrays (inside dicts, lists, tuples) as plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), sort_keys=True)


def _env(config: DatasetConfig, task: TaskSpec) -> gym.Env:
    """A cached env for (task, config): building scenes is cheap, building renderers is not."""
    key = (task.env_id, task.max_steps, config.space, config.image_size, config.camera, config.obs_keys)
    if key not in _ENV_CACHE:
        obs_keys = tuple(k for k in config.obs_keys if k != "gripper")
        kwargs: dict[str, Any] = {"space": config.space, "image_size": config.image_size,
                                  "camera": config.camera, "obs_keys": obs_keys, "render_size": config.image_size}
        if task.max_steps is not None:
            kwargs["max_episode_steps"] = task.max_steps
            if task.is_scenario:
                kwargs["horizon"] = task.max_steps
        _ENV_CACHE[key] = gym.make(task.env_id, **kwargs)
    return _ENV_CACHE[key]


def _policy(env: gym.Env, task: TaskSpec, policy_seed: int):
    """Zero-argument callable giving the next action (see ``TaskSpec.policy``)."""
    if task.is_scenario:
        return lambda: 0
    name = "expert" if task.policy == "auto" else task.policy
    return make_policy(env, name, policy_seed, noise=task.noise if name == "noisy_expert" else 0.0)


def _frames(obs: dict, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {k: obs[k] for k in keys if k in obs}


def _scenario_extras(env: gym.Env, task: TaskSpec, info: dict, policy_seed: int) -> dict[str, Any]:
    base = env.unwrapped
    out: dict[str, Any] = {
        "causal_graph": info["causal_graph"], "final_positions": info["final_positions"],
        "objects": [o.to_dict() for o in base.initial_objects],
        "outcome": {"contact_label": bool(info["contact_label"]), "broken": info["broken"],
                    "agent": info["agent"], "patient": info["patient"]}}
    if task.total_effect:
        truth = base.ground_truth(but_for=True)
        out["total_effect_graph"] = nx.node_link_data(truth["total_effect"], edges="edges")
        out["graph_agreement"] = truth["agreement"]
    if task.qa:
        out["qa"] = questions(base, np.random.default_rng(policy_seed), counterfactual=True)
    return out


def collect_episode(config: DatasetConfig, index: int) -> dict[str, Any]:
    """Run episode ``index`` of ``config`` and return its record for ``encode_episode``."""
    task_index, task = config.task_of(index)
    env_seed, policy_seed = episode_seeds(config.seed, config.split, index)
    env = _env(config, task)
    obs, info = env.reset(seed=env_seed)
    objects0 = [o.to_dict() for o in env.unwrapped.objects] if not task.is_scenario else None
    act = _policy(env, task, policy_seed)
    frames = [_frames(obs, config.obs_keys)]
    events, actions, rewards = [_dumps(info["events"])], [], []
    done = False
    while not done:
        action = act()
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        frames.append(_frames(obs, config.obs_keys))
        actions.append(action)
        events.append(_dumps(info["events"]))
        rewards.append(reward)
    base = env.unwrapped
    if task.is_scenario:
        extras = _scenario_extras(env, task, info, policy_seed)
        label, success = bool(info["contact_label"]), False
        text = {"caption": info["caption"], "instruction": ""}
    else:
        success = bool(info["success"])
        label = success
        extras = {"objects": objects0, "outcome": {
            "success": success, "feasible": bool(info["feasible"]), "stable": bool(info["stable"]),
            "goal": info["goal"], "steps": len(actions)}}
        text = {"caption": "", "instruction": base.instruction}
    extras["interventions"] = [[frame, _jsonable(change)] for frame, change in info.get("interventions", [])]
    low_level = isinstance(env.action_space, gym.spaces.Box)
    attrs = {"env_id": task.env_id, "episode_index": index, "env_seed": env_seed, "policy_seed": policy_seed,
             "task_index": task_index, "policy": task.policy, "noise": task.noise, "split": config.split,
             "space": config.space, "camera": config.camera, "fps": FPS, "n_frames": len(frames),
             "label": label, "success": success, "object_names": json.dumps(info["object_names"])}
    return {"attrs": attrs,
            "obs": {k: np.stack([f[k] for f in frames]) for k in frames[0]},
            "action": np.stack(actions).astype(np.float32) if low_level and actions else None,
            "action_json": [_dumps(a) for a in actions], "reward": np.asarray(rewards, dtype=np.float32),
            "events": events, "text": text, "json": {k: _jsonable(v) for k, v in extras.items()}}
