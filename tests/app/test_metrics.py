"""foretell.metrics against small cases worked out by hand."""

import math

import networkx as nx
import numpy as np
import pytest

from foretell.metrics import (
    accuracy,
    auroc,
    binary_metrics,
    brier,
    edge_auroc,
    edge_metrics,
    expected_calibration_error,
    majority_baseline,
    structural_hamming_distance,
)

# Confidences 0.95, 0.95, 0.75, 0.62 fall in bins 14, 14, 11 and 9 of 15 (none on a bin edge).
PROBS = np.array([0.95, 0.95, 0.25, 0.62])
LABELS = np.array([1, 0, 0, 0])


def test_classification_counts():
    scores, labels = np.array([0.9, 0.8, 0.4, 0.4, 0.1]), np.array([True, False, True, False, False])
    # predicted [1, 1, 0, 0, 0]: TP 1, FP 1, FN 1, TN 2
    result = binary_metrics(scores, labels)
    assert result["accuracy"] == pytest.approx(3 / 5) == accuracy(scores, labels)
    assert result["precision"] == result["recall"] == result["f1"] == pytest.approx(0.5)
    # positive pairs: 0.9 beats all 3 negatives; 0.4 beats 0.1 and ties 0.4 -> 4.5 of 6
    assert result["auroc"] == pytest.approx(4.5 / 6) == auroc(scores, labels)


def test_brier_and_ece_by_hand():
    assert brier(PROBS, LABELS) == pytest.approx((0.05**2 + 0.95**2 + 0.25**2 + 0.62**2) / 4)
    # bin 14: two at 0.95, one right -> 2 |0.5 - 0.95|; bin 11: 1 |1 - 0.75|; bin 9: 1 |0 - 0.62|
    assert expected_calibration_error(PROBS, LABELS) == pytest.approx((0.9 + 0.25 + 0.62) / 4)
    assert expected_calibration_error(PROBS, LABELS, bins=1) == pytest.approx(abs(0.5 - 0.8175))
    assert expected_calibration_error([1.0, 0.0, 1.0], [1, 0, 1]) == 0.0
    assert binary_metrics(PROBS, LABELS)["ece"] == expected_calibration_error(PROBS, LABELS)


def test_majority_baseline():
    result = majority_baseline(LABELS)  # rate 0.25: always "no"
    assert result["rate"] == 0.25 and result["accuracy"] == 0.75 and result["auroc"] == 0.5
    assert result["brier"] == pytest.approx((0.75**2 + 3 * 0.25**2) / 4) and result["ece"] == pytest.approx(0.0)
    assert result["precision"] == result["recall"] == result["f1"] == 0.0
    assert majority_baseline(LABELS, train_labels=[1, 1, 1, 0])["accuracy"] == 0.25  # guesses "yes" from train


def test_auroc_is_nan_for_one_class():
    assert math.isnan(auroc([0.2, 0.7], [True, True]))


@pytest.mark.parametrize(("probs", "labels", "message"), [
    ([0.1, 0.2], [0, 1, 1], "same length"),
    ([0.1, 0.2, 0.3], [0, 1, 2], "binary"),
    ([0.1, 0.2], ["yes", "no"], "binary"),
    ([0.1, 1.2], [0, 1], r"\[0, 1\]"),
    ([-0.1, 0.5], [0, 1], r"\[0, 1\]"),
    ([np.nan, 0.5], [0, 1], r"\[0, 1\]"),
    ([], [], "non-empty"),
])
def test_bad_inputs_raise(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(probs, labels)


def test_auroc_rejects_mismatched_scores():
    with pytest.raises(ValueError, match="one per label"):
        auroc([0.1, 0.2, 0.3], [0, 1])


TRUTH = nx.DiGraph([("a", "b"), ("b", "c")])


def test_edge_metrics_by_hand():
    predicted = nx.DiGraph([("a", "b"), ("c", "b"), ("a", "c")])  # one right, one reversed, one extra
    result = edge_metrics(predicted, TRUTH)
    assert result["precision"] == pytest.approx(1 / 3) and result["recall"] == pytest.approx(1 / 2)
    assert result["f1"] == pytest.approx(0.4) and result["shd"] == 2 and math.isnan(result["auroc"])


def test_shd_counts_a_reversal_once_and_two_cycles_per_edge():
    assert structural_hamming_distance(TRUTH, TRUTH) == 0
    assert structural_hamming_distance(nx.DiGraph([("b", "a"), ("b", "c")]), TRUTH) == 1
    two_cycle = nx.DiGraph([("a", "b"), ("b", "a")])
    assert structural_hamming_distance(two_cycle, nx.DiGraph([("a", "b")])) == 1
    empty = nx.DiGraph()
    empty.add_nodes_from("ab")
    assert structural_hamming_distance(empty, two_cycle) == 2


def test_edge_auroc_by_hand():
    scored = nx.DiGraph()
    scored.add_edge("a", "b", p=0.9)
    scored.add_edge("c", "b", p=0.8)
    scored.add_edge("a", "c", p=0.3)
    # candidates: positives (a,b) 0.9, (b,c) 0; negatives (a,c) 0.3, (c,b) 0.8, (b,a) 0, (c,a) 0
    # 0.9 beats 4; 0 ties 2 -> 4 + 2 * 0.5 = 5 of 8
    assert edge_auroc(scored, TRUTH) == pytest.approx(5 / 8)
    assert edge_metrics(scored, TRUTH, score="p")["auroc"] == pytest.approx(5 / 8)


def test_graph_inputs_are_checked():
    with pytest.raises(ValueError, match="same nodes"):
        edge_metrics(nx.DiGraph([("a", "b")]), TRUTH)
    with pytest.raises(ValueError, match="'p' attribute"):
        edge_auroc(nx.DiGraph([("a", "b"), ("b", "c")]), TRUTH)
