"""Is a scenario's outcome readable from its first frame? A measured baseline.

Physion's scenarios are built so that the object-contact label needs the dynamics: a viewer who
sees only the first frame should do little better than the base rate. ``first_frame_baseline``
measures that for a foretell scenario: it fits classifiers on what the first frame *shows*
(object positions, sizes, shapes and yaws, and the agent-patient offset; not velocities, masses,
frictions or break thresholds, which a still image does not show) and reports their
cross-validated accuracy and AUROC against the majority-class rate. Labels come from headless
rollouts (``simulate``), so the measurement costs one rollout per episode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import gymnasium as gym
import numpy as np
import torch

from ..sim.observations import MAX_OBJECTS
from ..sim.passive import simulate
from ..sim.properties import SHAPES

PER_OBJECT = 3 + 3 + len(SHAPES) + 2  # position, half-extents, shape one-hot, yaw (sin, cos)


def _yaw(quat: tuple[float, float, float, float] | None, yaw: float) -> float:
    if quat is None:
        return yaw
    w, x, y, z = quat
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def first_frame_features(env) -> np.ndarray:
    """What the first frame shows ``(F,)``: agent, patient, then the others by distance to the
    agent, each as position, half-extents, shape one-hot and yaw; zero-padded to
    ``MAX_OBJECTS``; plus the agent-to-patient offset and distance."""
    u = env.unwrapped
    objects = {o.name: o for o in u.initial_objects}
    agent, patient = objects[u.agent_name], objects[u.patient_name]
    others = sorted((o for o in objects.values() if o.name not in (agent.name, patient.name)),
                    key=lambda o: np.linalg.norm(np.subtract(o.pos, agent.pos)))
    rows = np.zeros((MAX_OBJECTS, PER_OBJECT))
    for k, obj in enumerate([agent, patient, *others]):
        yaw = _yaw(obj.quat, obj.yaw)
        rows[k] = [*obj.pos, *obj.half_extents(), *(np.array(SHAPES) == obj.shape), np.sin(yaw), np.cos(yaw)]
    offset = np.subtract(patient.pos, agent.pos)
    return np.concatenate([rows.ravel(), offset, [np.linalg.norm(offset)]])


def collect(env_id: str, seeds: Iterable[int], space: str = "A",
            progress: Callable[[Iterable], Iterable] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """First-frame features ``(E, F)`` and contact labels ``(E,)`` of the given seeds."""
    env = gym.make(env_id, space=space, obs_keys=("state",))
    u = env.unwrapped
    features, labels = [], []
    seeds = list(seeds)
    for seed in progress(seeds) if progress else seeds:
        env.reset(seed=seed)
        features.append(first_frame_features(env))
        rollout = simulate(u.initial_objects, u.initial_velocities, u.horizon)
        labels.append(rollout.touched(u.agent_name, u.patient_name))
    env.close()
    return np.array(features), np.array(labels, dtype=bool)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _logistic(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; probabilities for ``x_test``."""
    a = np.hstack([x_train, np.ones((len(x_train), 1))])  # (E, F+1)
    w = np.zeros(a.shape[1])
    penalty = l2 * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0  # no penalty on the intercept
    for _ in range(25):
        p = 1 / (1 + np.exp(-a @ w))
        hessian = (a * (p * (1 - p))[:, None]).T @ a + penalty
        w -= np.linalg.solve(hessian, a.T @ (p - y_train) + penalty @ w)
    return 1 / (1 + np.exp(-np.hstack([x_test, np.ones((len(x_test), 1))]) @ w))


def _mlp(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    """A two-hidden-layer MLP (full-batch Adam); probabilities for ``x_test``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small only loses time to thread hand-offs
    try:
        torch.manual_seed(seed)
        xt, yt = torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train, dtype=torch.float32)
        model = torch.nn.Sequential(torch.nn.Linear(xt.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                    torch.nn.ReLU(), torch.nn.Linear(64, 1))
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
        for _ in range(200):
            optimiser.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(xt).squeeze(-1), yt).backward()
            optimiser.step()
        with torch.no_grad():
            return torch.sigmoid(model(torch.tensor(x_test, dtype=torch.float32)).squeeze(-1)).numpy()
    finally:
        torch.set_num_threads(threads)


def _fit_predict(kind: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    """Probability of contact for ``x_test`` from a logistic regression or a small MLP."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    if kind == "logistic":
        return _logistic(x_train, y_train.astype(float), x_test)
    return _mlp(x_train, y_train, x_test, seed)


def cross_validate(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> dict:
    """K-fold accuracy and AUROC of a logistic regression and an MLP on first-frame features,
    against the majority-class rate (the accuracy of a constant guess)."""
    if len(labels) < 2 * folds:
        raise ValueError(f"need at least {2 * folds} episodes for {folds}-fold cross-validation, got {len(labels)}")
    order = np.random.default_rng(seed).permutation(len(labels))
    result = {"episodes": int(len(labels)), "contact_rate": float(labels.mean()),
              "majority_accuracy": float(max(labels.mean(), 1 - labels.mean()))}
    for kind in ("logistic", "mlp"):
        probs = np.empty(len(labels))
        for k, test in enumerate(np.array_split(order, folds)):
            train = np.setdiff1d(order, test)
            probs[test] = _fit_predict(kind, features[train], labels[train], features[test], seed + k)
        result[f"{kind}_accuracy"] = float(((probs > 0.5) == labels).mean())
        result[f"{kind}_auroc"] = auroc(probs, labels)
    return result


def first_frame_baseline(env_id: str, episodes: int, space: str = "A", seed: int = 0, folds: int = 5,
                         progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """Collect ``episodes`` seeds from ``seed`` and cross-validate first-frame classifiers."""
    features, labels = collect(env_id, range(seed, seed + episodes), space, progress)
    return {"env": env_id, "space": space, "seeds": [seed, seed + episodes - 1], "folds": folds,
            **cross_validate(features, labels, folds, seed)}
