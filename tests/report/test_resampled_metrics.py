"""The resampled test metrics equal the project's metrics and sklearn's on the resampled rows."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from src.report.resampled_metrics import (
    MULTICLASS,
    MULTILABEL,
    resample_weights,
    weighted_auc,
)
from src.tasks.multiclass.metrics import multiclass_scores
from src.tasks.multilabel.metrics import multilabel_scores

LABELS = ["a", "b", "c", "d"]


def multilabel_case(rng: np.random.Generator, rows: int = 60) -> tuple[np.ndarray, np.ndarray]:
    targets = (rng.random((rows, len(LABELS))) < [0.5, 0.2, 0.05, 0.3]).astype(np.int64)
    targets[rng.random(targets.shape) < 0.1] = -1  # unscored cells, as Jigsaw's test labels
    probs = np.clip(0.35 * targets + rng.random(targets.shape) * 0.7, 0, 1).astype(np.float32)
    probs[:5] = np.round(probs[:5], 1)  # ties
    probs[5, 0] = 0.5  # exactly at the threshold: positive
    return probs, targets


def test_resample_weights_count_draws_of_every_row() -> None:
    weights = resample_weights(7, 50, np.random.default_rng(0))
    assert weights.shape == (50, 7) and (weights.sum(axis=1) == 7).all()
    again = resample_weights(7, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(weights, again)


def test_weighted_auc_is_sklearns_auc_on_the_repeated_rows() -> None:
    rng = np.random.default_rng(1)
    scores = np.round(rng.random(40), 1)  # many ties
    positive = rng.random(40) < 0.4
    weights = resample_weights(40, 20, rng)
    got = weighted_auc(scores, positive, weights)
    for b in range(20):
        rows = np.repeat(np.arange(40), weights[b].astype(int))
        assert got[b] == pytest.approx(roc_auc_score(positive[rows], scores[rows]))
    one_class = weighted_auc(scores, np.zeros(40, bool), weights[:1])
    assert np.isnan(one_class).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multilabel_metrics_match_the_projects_on_each_resample(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs, targets = multilabel_case(rng)
    weights = np.vstack([np.ones(len(probs)), resample_weights(len(probs), 8, rng)])
    got = {name: f(probs, targets, weights) for name, f in MULTILABEL.items()}
    for b in range(len(weights)):
        rows = np.repeat(np.arange(len(probs)), weights[b].astype(int))
        expected = multilabel_scores(probs[rows], targets[rows], LABELS)
        for name in MULTILABEL:
            key = name.removeprefix("test/")
            # the project scores AUC in float32 (torchmetrics): equal to 1e-6
            assert got[name][b] == pytest.approx(float(expected[key]), abs=1e-6), (name, b)


def test_multilabel_auc_skips_a_label_a_resample_leaves_with_one_class() -> None:
    targets = np.array([[1, 0], [0, 0], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.1, 0.3], [0.8, 0.7], [0.3, 0.1]], dtype=np.float32)
    weights = np.array([[1.0, 1.0, 0.0, 2.0]])  # label b has no positive in this resample
    auc = MULTILABEL["test/auc_macro"](probs, targets, weights)
    rows = [0, 1, 3, 3]
    assert auc[0] == pytest.approx(roc_auc_score(targets[rows, 0], probs[rows, 0]))


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_metrics_match_sklearn_and_the_project(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = ["x", "y", "z", "w"]
    targets = rng.choice(4, size=50, p=[0.5, 0.3, 0.15, 0.05])
    probs = rng.random((50, 4)) + np.eye(4)[targets] * 0.6
    probs /= probs.sum(axis=1, keepdims=True)
    weights = np.vstack([np.ones(50), resample_weights(50, 8, rng)])
    got = {name: f(probs, targets, weights) for name, f in MULTICLASS.items()}
    for b in range(len(weights)):
        rows = np.repeat(np.arange(50), weights[b].astype(int))
        y, pred = targets[rows], probs[rows].argmax(axis=1)
        assert got["test/accuracy"][b] == pytest.approx(accuracy_score(y, pred))
        assert got["test/f1_macro"][b] == pytest.approx(f1_score(y, pred, average="macro"))
        assert got["test/f1_weighted"][b] == pytest.approx(f1_score(y, pred, average="weighted"))
        project = multiclass_scores(probs[rows], y, classes)
        assert got["test/f1_macro"][b] == pytest.approx(project["f1_macro"], abs=1e-6)


def test_a_sweeps_worth_of_resamples_takes_seconds() -> None:
    # 1,000 resamples x 30 runs (6 poolers x 5 seeds) x 1,000 rows x 6 labels
    rng = np.random.default_rng(0)
    probs, targets = multilabel_case(rng, rows=1000)
    targets = np.hstack([targets, targets[:, :2]])
    probs = np.hstack([probs, probs[:, :2]])
    weights = resample_weights(1000, 1000, rng)
    start = time.perf_counter()
    for _ in range(30):
        MULTILABEL["test/auc_macro"](probs, targets, weights)
    assert time.perf_counter() - start < 60
