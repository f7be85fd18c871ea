"""Evaluation metrics shared by every package: binary prediction and causal-graph edges.

One place for the numbers that ``docs/results.md`` reports, so a first-frame baseline, a world
model's ``p(contact)`` and a causal-graph learner are scored the same way. Where scikit-learn has
the metric it computes it (readers trust it, and its edge cases are documented); expected
calibration error, which sklearn lacks, is written out here. Every function checks its inputs
and raises ``ValueError`` naming what is wrong, rather than returning a quietly wrong number.

This module sits beside ``foretell.runtime`` and imports neither ``foretell.envs`` nor MuJoCo,
so any package may use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
from sklearn import metrics as skm

ECE_BINS = 15  # Guo et al. (2017) report ECE with 15 equal-width bins; so do most papers since
BINARY_METRICS = ("accuracy", "auroc", "brier", "ece", "f1", "precision", "recall")
EDGE_METRICS = ("precision", "recall", "f1", "shd", "auroc")


def _labels(labels: Sequence | np.ndarray, name: str = "labels") -> np.ndarray:
    """``labels`` as a bool array ``(N,)``; ``ValueError`` unless 1-D, non-empty and all 0/1."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {y.shape}")
    if y.dtype != bool:
        values = np.unique(y)
        if y.dtype.kind not in "iuf" or not np.isin(values, (0, 1)).all():
            raise ValueError(f"{name} must be binary (bool or 0/1), got values {values[:5].tolist()}")
    return y.astype(bool)


def _probabilities(probs: Sequence | np.ndarray, size: int, name: str = "probs") -> np.ndarray:
    """``probs`` as a float array ``(N,)`` matching ``size``; ``ValueError`` outside [0, 1] or NaN."""
    p = np.asarray(probs, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {p.shape}")
    if p.size != size:
        raise ValueError(f"{name} and labels must have the same length, got {p.size} and {size}")
    if not np.all((p >= 0.0) & (p <= 1.0)):  # also rejects NaN
        bad = p[~((p >= 0.0) & (p <= 1.0))]
        raise ValueError(f"{name} must lie in [0, 1], got {bad[:5].tolist()}")
    return p


def _checked(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(labels)
    return _probabilities(probs, y.size), y


def accuracy(probs: Sequence | np.ndarray, labels: Sequence | np.ndarray, threshold: float = 0.5) -> float:
    """Share of ``(N,)`` labels matched by ``probs > threshold``."""
    p, y = _checked(probs, labels)
    return float(skm.accuracy_score(y, p > threshold))


def auroc(scores: Sequence | np.ndarray, labels: Sequence | np.ndarray) -> float:
    """Area under the ROC curve of ``(N,)`` scores (ties count half); ``nan`` when ``labels``
    hold one class only, where the ROC curve does not exist. Scores need not be probabilities."""
    y = _labels(labels)
    s = np.asarray(scores, dtype=float)
    if s.shape != y.shape or not np.all(np.isfinite(s)):
        raise ValueError(f"scores must be {y.size} finite numbers, one per label, got shape {s.shape}")
    if y.all() or not y.any():
        return float("nan")
    return float(skm.roc_auc_score(y, s))


def brier(probs: Sequence | np.ndarray, labels: Sequence | np.ndarray) -> float:
    """Mean squared error of ``(N,)`` probabilities against the 0/1 labels (lower is better)."""
    p, y = _checked(probs, labels)
    return float(skm.brier_score_loss(y, p))


def expected_calibration_error(probs: Sequence | np.ndarray, labels: Sequence | np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Expected calibration error (Guo, Pleiss, Sun and Weinberger, "On Calibration of Modern
    Neural Networks", ICML 2017, eq. 3) of a binary classifier.

    As in the paper, each prediction's *confidence* is the probability of the class it predicts,
    ``max(p, 1 - p)`` (class 1 when ``p > 0.5``), and is put in one of ``bins`` equal-width bins
    of [0, 1] (``(k/B, (k+1)/B]``, the first also holding 0). ECE is the bin-size-weighted mean
    of ``|accuracy - mean confidence|`` over non-empty bins.

    Args:
        probs: ``(N,)`` probabilities of class 1.
        labels: ``(N,)`` binary labels.
        bins: number of equal-width bins (15 in the paper).
    """
    p, y = _checked(probs, labels)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got bins={bins}")
    predicted = p > 0.5
    confidence = np.where(predicted, p, 1.0 - p)  # (N,)
    correct = (predicted == y).astype(float)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # (N,) bin index
    # Per bin, n_b * (accuracy_b - confidence_b) = sum of (correct - confidence); empty bins add 0.
    gap = np.bincount(which, weights=correct - confidence, minlength=bins)  # (bins,)
    return float(np.abs(gap).sum() / p.size)


def binary_metrics(probs: Sequence | np.ndarray, labels: Sequence | np.ndarray, threshold: float = 0.5) -> dict:
    """Every metric of ``BINARY_METRICS`` for ``(N,)`` probabilities of class 1 and labels.

    Precision (no positive prediction) and F1/recall (no positive label) are 0 where undefined,
    AUROC ``nan`` where the labels hold one class.
    """
    p, y = _checked(probs, labels)
    predicted = p > threshold
    return {"accuracy": float(skm.accuracy_score(y, predicted)), "auroc": auroc(p, y), "brier": brier(p, y),
            "ece": expected_calibration_error(p, y),
            "f1": float(skm.f1_score(y, predicted, zero_division=0)),
            "precision": float(skm.precision_score(y, predicted, zero_division=0)),
            "recall": float(skm.recall_score(y, predicted, zero_division=0))}


def majority_baseline(labels: Sequence | np.ndarray, train_labels: Sequence | np.ndarray | None = None) -> dict:
    """``binary_metrics`` of a constant guess: every item gets the training set's positive rate.

    Args:
        labels: ``(N,)`` labels to score the guess on.
        train_labels: ``(M,)`` labels the rate is taken from (default ``labels`` themselves, which
            makes accuracy the majority-class rate ``max(r, 1 - r)``).

    Returns:
        ``binary_metrics`` plus ``rate`` (the constant probability); AUROC is 0.5 by construction
        (``nan`` if ``labels`` hold one class).
    """
    y = _labels(labels)
    rate = float(_labels(train_labels, "train_labels").mean()) if train_labels is not None else float(y.mean())
    return {**binary_metrics(np.full(y.size, rate), y), "rate": rate}


def _same_nodes(predicted: nx.DiGraph, truth: nx.DiGraph) -> list:
    if set(predicted.nodes) != set(truth.nodes):
        raise ValueError(f"graphs must have the same nodes; only in predicted: "
                         f"{sorted(map(str, set(predicted) - set(truth)))}, only in truth: "
                         f"{sorted(map(str, set(truth) - set(predicted)))}")
    if len(truth) < 2:
        raise ValueError(f"graphs need at least 2 nodes to have edges, got {len(truth)}")
    return sorted(truth.nodes, key=str)


def _ordered_pairs(nodes: list) -> list[tuple]:
    """Every ordered pair ``(u, v)``, ``u != v``: the candidate edges (self-loops are not causes)."""
    return [(u, v) for u in nodes for v in nodes if u != v]


def structural_hamming_distance(predicted: nx.DiGraph, truth: nx.DiGraph) -> int:
    """Fewest single-edge additions, deletions and reversals that turn ``predicted`` into ``truth``.

    Per unordered pair ``{u, v}``: 0 if the directed edges between them agree, 1 if one graph has
    ``u -> v`` and the other ``v -> u`` (a reversal), else the number of edges in one graph only.
    On DAGs this is the usual SHD (Tsamardinos et al. 2006) with a reversal counted once.
    """
    nodes = _same_nodes(predicted, truth)
    distance = 0
    for i, u in enumerate(nodes):
        for v in nodes[i + 1:]:
            a = {e for e in ((u, v), (v, u)) if predicted.has_edge(*e)}
            b = {e for e in ((u, v), (v, u)) if truth.has_edge(*e)}
            reversed_edge = len(a) == len(b) == 1 and a != b
            distance += 1 if reversed_edge else len(a ^ b)
    return distance


def edge_metrics(predicted: nx.DiGraph, truth: nx.DiGraph, score: str | None = None) -> dict:
    """Edge precision, recall, F1 and SHD of ``predicted`` against ``truth`` (same nodes), and the
    AUROC of edge scores when ``score`` names an edge attribute of ``predicted``.

    Candidate edges are the ordered pairs of distinct nodes; a pair absent from ``predicted``
    scores 0. Precision is 0 when nothing is predicted, recall and F1 0 when ``truth`` is empty.

    Returns:
        ``{"precision", "recall", "f1", "shd", "auroc"}``; ``auroc`` is ``nan`` without ``score``
        or when every (or no) candidate is a true edge.
    """
    pairs = _ordered_pairs(_same_nodes(predicted, truth))
    y = np.array([truth.has_edge(*e) for e in pairs])  # (P,) over candidate edges
    guess = np.array([predicted.has_edge(*e) for e in pairs])
    result = {"precision": float(skm.precision_score(y, guess, zero_division=0)),
              "recall": float(skm.recall_score(y, guess, zero_division=0)),
              "f1": float(skm.f1_score(y, guess, zero_division=0)),
              "shd": structural_hamming_distance(predicted, truth), "auroc": float("nan")}
    if score is not None:
        result["auroc"] = edge_auroc(predicted, truth, score)
    return result


def edge_auroc(scored: nx.DiGraph, truth: nx.DiGraph, score: str = "p") -> float:
    """AUROC of edge scores (attribute ``score`` of ``scored``'s edges, 0 for absent pairs) for
    recovering ``truth``'s edges over all ordered pairs of distinct nodes."""
    pairs = _ordered_pairs(_same_nodes(scored, truth))
    missing = [(u, v) for u, v, data in scored.edges(data=True) if score not in data]
    if missing:
        raise ValueError(f"every edge of the scored graph needs a {score!r} attribute; missing on {missing[:3]}")
    s = np.array([scored.edges[e][score] if scored.has_edge(*e) else 0.0 for e in pairs], dtype=float)
    return auroc(s, np.array([truth.has_edge(*e) for e in pairs]))
