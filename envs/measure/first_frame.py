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

import warnings
from collections.abc import Callable, Iterable

import gymnasium as gym
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from foretell.metrics import binary_metrics, majority_baseline

from ..sim.observations import MAX_OBJECTS
from ..sim.passive import simulate
from ..sim.properties import SHAPES

PER_OBJECT = 3 + 3 + len(SHAPES) + 2  # position, half-extents, shape one-hot, yaw (sin, cos)
MLP_BATCH = 100_000  # above any training set: full-batch Adam (sklearn caps it at the set's size)


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


def _classifiers(seed: int) -> dict[str, Pipeline]:
    """The two first-frame classifiers, each behind a standardiser fitted on its training folds.

    An L2 logistic regression (``C=1``, unpenalised intercept) and a 2x64 ReLU MLP trained with
    full-batch Adam (learning rate 1e-2, L2 1e-3) for a fixed 200 epochs: small models, since
    300 episodes cannot support more.
    """
    mlp = MLPClassifier(hidden_layer_sizes=(64, 64), alpha=1e-3, solver="adam", learning_rate_init=1e-2,
                        batch_size=MLP_BATCH, max_iter=200, n_iter_no_change=200, random_state=seed)
    return {"logistic": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)),
            "mlp": make_pipeline(StandardScaler(), mlp)}


def cross_validate(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> dict:
    """Stratified K-fold accuracy, AUROC, Brier score and ECE (``foretell.metrics``) of a logistic
    regression and an MLP on first-frame features ``(E, F)`` with labels ``(E,)``, against the
    majority-class rate (the accuracy of a constant guess). Each episode is scored once, by the
    model that did not train on it.

    Raises:
        ValueError: fewer than ``2 * folds`` episodes, or fewer than ``folds`` of either label.
    """
    labels = np.asarray(labels, dtype=bool)
    if len(labels) < 2 * folds:
        raise ValueError(f"need at least {2 * folds} episodes for {folds}-fold cross-validation, got {len(labels)}")
    minority = int(min(labels.sum(), (~labels).sum()))
    if minority < folds:
        raise ValueError(f"{folds}-fold stratified cross-validation needs >= {folds} episodes of each label, "
                         f"got {minority} of the rarer one")
    majority = majority_baseline(labels)
    result = {"episodes": int(len(labels)), "contact_rate": majority["rate"],
              "majority_accuracy": majority["accuracy"]}
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for kind, model in _classifiers(seed).items():
        with warnings.catch_warnings():  # by design: a fixed epoch budget, a batch above the set's size
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", message="Got `batch_size`", category=UserWarning)
            probs = cross_val_predict(model, features, labels, cv=splits, method="predict_proba")[:, 1]
        scores = binary_metrics(probs, labels)
        result.update({f"{kind}_{name}": scores[name] for name in ("accuracy", "auroc", "brier", "ece")})
    return result


def first_frame_baseline(env_id: str, episodes: int, space: str = "A", seed: int = 0, folds: int = 5,
                         progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """Collect ``episodes`` seeds from ``seed`` and cross-validate first-frame classifiers."""
    features, labels = collect(env_id, range(seed, seed + episodes), space, progress)
    return {"env": env_id, "space": space, "seeds": [seed, seed + episodes - 1], "folds": folds,
            **cross_validate(features, labels, folds, seed)}
