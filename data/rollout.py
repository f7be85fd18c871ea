"""Simulate one dataset episode into an in-memory record (``data.episode_file`` stores it).

A record depends only on the dataset config and the episode index: the env seed and the
policy seed come from ``schema.episode_seeds``, envs are built from the config alone, and
nothing reads global random state. That is what makes a dataset's bytes independent of the
worker count and the backend.
"""

from __future__ import annotations

import atexit
import json
from typing import Any

import gymnasium as gym
import networkx as nx
import numpy as np

import foretell.envs  # noqa: F401 - registers the envs
from foretell.envs.measure.episodes import make_policy
from foretell.envs.measure.qa import questions
from foretell.envs.sim.cameras import CAMERA_VERSION

from .episode_file import STORE_DTYPES
from .schema import FPS, IMAGE_KEYS, TIME_KEY, DatasetConfig, TaskSpec, episode_seeds

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
        if task.max_steps is not None and task.family != "puzzle":  # a puzzle is one step
            kwargs["horizon" if task.family == "scenario" else "max_steps"] = task.max_steps
        _ENV_CACHE[key] = gym.make(task.env_id, **kwargs)
    return _ENV_CACHE[key]


@atexit.register
def close_envs() -> None:
    """Close the cached envs (their renderers hold OpenGL contexts); runs at process exit."""
    while _ENV_CACHE:
        _ENV_CACHE.popitem()[1].close()


def _policy(env: gym.Env, task: TaskSpec, policy_seed: int):
    """Zero-argument callable giving the next action (see ``TaskSpec.policy``)."""
    if task.is_scenario:
        return lambda: 0
    name = "expert" if task.policy == "auto" else task.policy
    return make_policy(env, name, policy_seed, noise=task.noise if name == "noisy_expert" else 0.0)


def _append_frame(frames: dict[str, list], obs: dict, info: dict, env_id: str) -> None:
    """Add one frame: the obs arrays, already in their stored dtypes (segmentation int32 -> int8 is a
    quarter of the memory; the encoder would convert anyway), and the env's ``info["time"]``."""
    for key, stack in frames.items():
        if key == TIME_KEY:
            if "time" not in info:
                raise ValueError(f"{env_id} put no 'time' in info: every foretell env reports the simulated "
                                 "seconds since reset, which datasets store as obs/time")
            stack.append(float(info["time"]))
        else:
            stack.append(np.asarray(obs[key], dtype=STORE_DTYPES.get(key)))


def env_features(config: DatasetConfig) -> dict[str, dict[str, Any]]:
    """What readers need to know about each env of ``config`` without importing it (``meta.json``
    ``envs``): family, the ``obs/`` keys its episodes hold, its action length (None: JSON only) and,
    where images are stored, ``camera_version`` (``envs.sim.cameras``: which camera rig drew them)."""
    out = {}
    for task in config.tasks:
        env = _env(config, task)
        spaces = env.observation_space.spaces
        box = isinstance(env.action_space, gym.spaces.Box)
        frame_keys = sorted([TIME_KEY, *(k for k in config.obs_keys if k in spaces)])
        out[task.env_id] = {"family": task.family, "frame_keys": frame_keys,
                            "action_dim": int(env.action_space.shape[0]) if box else None}
        if any(k in IMAGE_KEYS for k in frame_keys):
            out[task.env_id]["camera_version"] = CAMERA_VERSION
    return dict(sorted(out.items()))


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


def _puzzle_extras(env: gym.Env, info: dict, objects0: list[dict], times: list[float]) -> tuple[dict, dict]:
    """JSON fields and ``attempt/`` arrays of a puzzle episode (one attempt, ``envs.puzzles``)."""
    extras = {"causal_graph": info["causal_graph"], "final_positions": info["final_positions"],
              "objects": objects0, "attempt": info["attempt"],
              "outcome": {"success": bool(info["success"]), "violations": info["violations"],
                          "task_id": info["task_id"], "template": info["template"], "family": info["family"],
                          "goal": info["puzzle_goal"]}}
    outcome = getattr(env.unwrapped, "outcome", None)
    positions = getattr(outcome, "positions", None)  # (F+1, N, 3): centres every 40 ms of the attempt
    if positions is None:
        return extras, {}
    steps = np.arange(len(positions)) / max(len(positions) - 1, 1)
    attempt = {"positions": positions, "time": times[0] + steps * (times[-1] - times[0])}
    if getattr(outcome, "states", None) is not None:
        attempt["states"] = outcome.states  # (F+1, N, 13): what the passive world model trains on
    return extras, attempt


def collect_episode(config: DatasetConfig, index: int) -> dict[str, Any]:
    """Run episode ``index`` of ``config`` and return its record for ``encode_episode``.

    Frames are gathered as one list per key (no per-step dicts, no stacked copy): the encoder
    writes and releases them chunk by chunk."""
    task_index, task = config.task_of(index)
    family = task.family
    env_seed, policy_seed = episode_seeds(config.seed, config.split, index)
    env = _env(config, task)
    obs, info = env.reset(seed=env_seed)
    base = env.unwrapped
    objects0 = None
    if family == "blockstack":
        objects0 = [o.to_dict() for o in base.objects]
    elif family == "puzzle":
        objects0 = [o.to_dict() for o in base.task.objects]
    # Puzzles have no expert: their one attempt is a uniformly random action from the policy seed.
    act = make_policy(env, "random", policy_seed) if family == "puzzle" else _policy(env, task, policy_seed)
    frames: dict[str, list] = {TIME_KEY: [], **{k: [] for k in config.obs_keys if k in obs}}
    _append_frame(frames, obs, info, task.env_id)
    events, actions, rewards = [_dumps(info["events"])], [], []
    done = False
    while not done:
        action = act()
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        _append_frame(frames, obs, info, task.env_id)
        actions.append(action)
        events.append(_dumps(info["events"]))
        rewards.append(reward)
    attempt: dict[str, np.ndarray] = {}
    if family == "scenario":
        extras = _scenario_extras(env, task, info, policy_seed)
        label, success = bool(info["contact_label"]), False
        text = {"caption": info["caption"], "instruction": ""}
    elif family == "puzzle":
        extras, attempt = _puzzle_extras(env, info, objects0, frames[TIME_KEY])
        success = label = bool(info["success"])
        text = {"caption": "", "instruction": base.instruction}
    else:
        success = bool(info["success"])
        label = success
        extras = {"objects": objects0, "outcome": {
            "success": success, "feasible": bool(info["feasible"]), "stable": bool(info["stable"]),
            "goal": info["goal"], "steps": len(actions)}}
        text = {"caption": "", "instruction": base.instruction}
    extras["interventions"] = [[frame, _jsonable(change)] for frame, change in info.get("interventions", [])]
    continuous = isinstance(env.action_space, gym.spaces.Box)
    attrs = {"env_id": task.env_id, "episode_index": index, "env_seed": env_seed, "policy_seed": policy_seed,
             "task_index": task_index, "policy": task.policy, "noise": task.noise, "split": config.split,
             "space": config.space, "camera": config.camera, "fps": FPS, "n_frames": len(frames[TIME_KEY]),
             "label": label, "success": success, "object_names": json.dumps(info["object_names"])}
    return {"attrs": attrs, "obs": frames,
            "action": np.stack(actions).astype(np.float32) if continuous and actions else None,
            "action_json": [_dumps(a) for a in actions], "reward": np.asarray(rewards, dtype=np.float32),
            "events": events, "text": text, "json": {k: _jsonable(v) for k, v in extras.items()},
            "attempt": attempt}
