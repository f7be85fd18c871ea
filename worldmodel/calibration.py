"""Platt scaling of a sampled probability, fitted per scenario family on validation episodes.

The world model's ``p(contact)`` is the share of S sampled futures in which two objects touch.
Its ranking can be good while its 0.5 crossing sits in the wrong place (predict-ocp-v0, Support in
space B: AUROC 0.98, accuracy 0.85). Platt scaling (Platt 1999; Niculescu-Mizil and Caruana 2005)
fits ``p' = sigmoid(a * logit(p) + b)`` by logistic regression (scikit-learn) on held-out
validation episodes, one map per family, plus a pooled map for a family with no validation data
of its own or with one class only. The S-sample share is clipped to ``[1 / (2 S), 1 - 1 / (2 S)]``
first, so that 0 and 1 keep a finite logit. The maps are fitted on validation seeds only, never on
the test episodes they are applied to (``ocp_model.evaluate_predict`` checks the seeds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

POOLED = "pooled"
MIN_EPISODES = 20  # a family needs this many validation episodes (of both classes) for a map of its own


@dataclass(frozen=True)
class PlattMap:
    """``p' = sigmoid(slope * logit(clip(p)) + intercept)``; ``n`` validation episodes fitted it."""

    slope: float
    intercept: float
    num_samples: int
    n: int

    def __call__(self, probs: Sequence[float] | np.ndarray) -> np.ndarray:
        z = self.slope * _logit(np.asarray(probs, float), self.num_samples) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return asdict(self)


def _logit(probs: np.ndarray, num_samples: int) -> np.ndarray:
    eps = 1.0 / (2 * num_samples)
    p = np.clip(probs, eps, 1 - eps)
    return np.log(p / (1 - p))


def fit_platt(probs: Sequence[float], labels: Sequence[bool], num_samples: int) -> PlattMap:
    """One Platt map from validation probabilities (shares of ``num_samples`` samples) and labels.

    Raises:
        ValueError: mismatched lengths, probabilities outside [0, 1], or labels of one class only.
    """
    from sklearn.linear_model import LogisticRegression

    p, y = np.asarray(probs, float), np.asarray(labels, bool)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"probs and labels must be 1-D and of equal length, got {p.shape} and {y.shape}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("probabilities must lie in [0, 1]")
    if y.all() or not y.any():
        raise ValueError(f"Platt scaling needs labels of both classes; got {y.size} of one class")
    # C large: plain maximum likelihood for two parameters (sklearn's default C = 1 shrinks the slope)
    fit = LogisticRegression(C=1e4).fit(_logit(p, num_samples)[:, None], y)
    return PlattMap(float(fit.coef_[0, 0]), float(fit.intercept_[0]), num_samples, int(y.size))


def fit_family_maps(records: Mapping[str, Mapping[str, Sequence]], num_samples: int) -> dict[str, PlattMap]:
    """A map per family with enough validation episodes of both classes, and ``POOLED`` over all.

    Args:
        records: ``{family: {"probs": [...], "labels": [...]}}`` on validation episodes.
        num_samples: S, the samples each probability is a share of.
    """
    maps: dict[str, PlattMap] = {}
    for family, r in records.items():
        y = np.asarray(r["labels"], bool)
        if y.size >= MIN_EPISODES and y.any() and not y.all():
            maps[family] = fit_platt(r["probs"], y, num_samples)
    maps[POOLED] = fit_platt([p for r in records.values() for p in r["probs"]],
                             [b for r in records.values() for b in r["labels"]], num_samples)
    return maps


def cross_validate(records: Mapping[str, Mapping[str, Sequence]], num_samples: int, folds: int = 5,
                   seed: int = 0) -> dict:
    """Out-of-fold check of ``fit_family_maps`` on the validation episodes themselves.

    Each family's episodes are split into ``folds`` stratified folds (seeded); every fold is mapped
    by maps fitted on the other folds of *all* families (so the pooled fallback is held out too).
    Returns ``{"raw": metrics, "calibrated": metrics, "per_family": {family: {"raw", "calibrated"}}}``
    with ``foretell.metrics.binary_metrics``' accuracy, AUROC, ECE and Brier: the evidence on which
    to decide whether calibration helps, before any test episode is looked at.
    """
    from sklearn.model_selection import StratifiedKFold

    from foretell.metrics import binary_metrics

    fold_of = {}
    for i, (family, r) in enumerate(sorted(records.items())):
        y = np.asarray(r["labels"], bool)
        k = min(folds, int(y.sum()), int((~y).sum()))
        fold_of[family] = np.zeros(y.size, int)  # a family with < 2 of a class: held out whole in fold 0
        if k >= 2:
            for f, (_, held) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed + i).split(y, y)):
                fold_of[family][held] = f
    out_of_fold = {family: np.zeros(len(r["labels"])) for family, r in records.items()}
    for f in range(folds):
        fit = {family: {key: np.asarray(r[key])[fold_of[family] != f] for key in ("probs", "labels")}
               for family, r in records.items()}
        maps = fit_family_maps(fit, num_samples)
        for family, r in records.items():
            held = fold_of[family] == f
            if held.any():
                out_of_fold[family][held] = maps.get(family, maps[POOLED])(np.asarray(r["probs"], float)[held])

    def scores(p, y) -> dict:
        m = binary_metrics(np.asarray(p, float), np.asarray(y, bool))
        return {k: None if np.isnan(m[k]) else float(m[k]) for k in ("accuracy", "auroc", "ece", "brier")}

    labels = np.concatenate([np.asarray(r["labels"], bool) for r in records.values()])
    return {"raw": scores(np.concatenate([np.asarray(r["probs"], float) for r in records.values()]), labels),
            "calibrated": scores(np.concatenate(list(out_of_fold.values())), labels),
            "per_family": {family: {"raw": scores(r["probs"], r["labels"]),
                                    "calibrated": scores(out_of_fold[family], r["labels"])}
                           for family, r in records.items()},
            "folds": folds}


def apply_maps(maps: Mapping[str, PlattMap], family: str, probs: Sequence[float]) -> list[float]:
    """``probs`` of ``family`` through its own map, or the pooled one when it has none."""
    return maps.get(family, maps[POOLED])(probs).tolist()
