"""Precision / recall / F1 / AUC at per-label thresholds agree with sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from src.tasks.multilabel.metrics import scores_at_thresholds

LABELS = ["toxic", "insult", "threat"]


def test_scores_match_sklearn_with_unscored_entries() -> None:
    rng = np.random.default_rng(3)
    targets = (rng.random((300, 3)) < [0.3, 0.2, 0.05]).astype(np.float32)
    probs = np.clip(0.3 * targets + rng.random((300, 3)) * 0.7, 0, 1).astype(np.float32)
    targets[rng.random((300, 3)) < 0.1] = -1
    thresholds = [0.4, 0.55, 0.3]
    scores = scores_at_thresholds(probs, targets, LABELS, thresholds)
    tp = fp = fn = 0
    per_label = {"precision": [], "recall": [], "f1": []}
    for j, name in enumerate(LABELS):
        valid = targets[:, j] != -1
        truth = targets[valid, j].astype(int)
        predicted = probs[valid, j] >= np.float32(thresholds[j])
        p, r, f, _ = precision_recall_fscore_support(
            truth, predicted, average="binary", zero_division=0
        )
        for key, value in (("precision", p), ("recall", r), ("f1", f)):
            assert scores[f"{key}/{name}"] == pytest.approx(value)
            per_label[key].append(value)
        assert scores[f"auc/{name}"] == pytest.approx(roc_auc_score(truth, probs[valid, j]))
        tp += (predicted & (truth == 1)).sum()
        fp += (predicted & (truth == 0)).sum()
        fn += (~predicted & (truth == 1)).sum()
    for key, values in per_label.items():
        assert scores[f"{key}_macro"] == pytest.approx(np.mean(values))
    assert scores["precision_micro"] == pytest.approx(tp / (tp + fp))
    assert scores["recall_micro"] == pytest.approx(tp / (tp + fn))
    assert scores["f1_micro"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
