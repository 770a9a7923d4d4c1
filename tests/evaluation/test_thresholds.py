"""Per-label threshold tuning: finds the known optimum, agrees with brute force and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score, matthews_corrcoef, roc_curve

from src.evaluation.thresholds import threshold_sweep, tune_label, tune_thresholds
from src.tasks.multilabel.metrics import multilabel_scores

LABELS = ["toxic", "threat"]


def test_finds_the_known_optimum_on_constructed_data() -> None:
    # toxic: positives are exactly the rows with prob >= 0.3 -> F1 = 1 for t in (0.2, 0.3].
    # threat: negatives 0.1, 0.4, 0.6; positives 0.3, 0.5, 0.7, 0.8. F1 per threshold:
    # t<=0.1: 8/11, (0.1, 0.3]: 8/10 (the optimum), (0.3, 0.4]: 6/9, (0.4, 0.5]: 6/8, ...
    probs = np.array(
        [[0.1, 0.1], [0.2, 0.4], [0.3, 0.6], [0.45, 0.3], [0.8, 0.5], [0.9, 0.7], [0.05, 0.8]],
        dtype=np.float32,
    )
    targets = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [1, 1], [1, 1], [0, 1]])
    tuning = tune_thresholds(probs, targets, LABELS, min_positives=1)
    assert tuning.thresholds["toxic"] == pytest.approx(0.25)  # midpoint of 0.2 and 0.3
    assert tuning.val_scores["toxic"] == 1.0
    assert tuning.thresholds["threat"] == pytest.approx(0.2)  # midpoint of 0.1 and 0.3
    assert tuning.val_scores["threat"] == pytest.approx(0.8)
    assert multilabel_scores(probs, targets, LABELS, 0.5)["f1_macro"] < 0.8


def test_optimum_equals_brute_force_and_scores_match_multilabel_scores() -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random((400, 2)) < [0.3, 0.05]).astype(np.float32)
    probs = np.clip(0.35 * targets + rng.random((400, 2)) * 0.7, 0, 1).astype(np.float32)
    targets[rng.random((400, 2)) < 0.1] = -1  # unscored entries are ignored
    tuning = tune_thresholds(probs, targets, LABELS, min_positives=1)
    for j, name in enumerate(LABELS):
        valid = targets[:, j] != -1
        best = max(
            f1_score(targets[valid, j], probs[valid, j] >= t, zero_division=0)
            for t in np.unique(probs[valid, j])
        )
        assert tuning.val_scores[name] == pytest.approx(best, abs=1e-12)
    at_tuned = multilabel_scores(probs, targets, LABELS, tuning.as_list(LABELS))
    for name in LABELS:
        assert at_tuned[f"f1/{name}"] == pytest.approx(tuning.val_scores[name], abs=1e-12)


@pytest.mark.parametrize("metric", ["mcc", "youden"])
def test_other_metrics_match_sklearn(metric: str) -> None:
    rng = np.random.default_rng(1)
    target = (rng.random(300) < 0.2).astype(int)
    probs = np.clip(0.3 * target + rng.random(300) * 0.8, 0, 1).astype(np.float32)
    result = tune_label(probs, target, metric, min_positives=1)
    predicted = probs >= np.float32(result.threshold)
    if metric == "mcc":
        best = max(matthews_corrcoef(target, probs >= t) for t in np.unique(probs))
        assert matthews_corrcoef(target, predicted) == pytest.approx(best)
    else:
        fpr, tpr, _ = roc_curve(target, probs)
        assert result.score == pytest.approx((tpr - fpr).max())
    assert result.score == pytest.approx(
        threshold_sweep(probs, target, [result.threshold], metric)[0]
    )


def test_label_without_validation_positives_keeps_the_default() -> None:
    result = tune_label(np.array([0.2, 0.7]), np.array([0, 0]), "f1", default=0.5)
    assert (result.threshold, result.score, result.tuned) == (0.5, 0.0, False)
    assert result.reason == "0 positive validation rows (fewer than 10)"


def test_a_label_with_too_few_positives_keeps_the_default_and_says_why() -> None:
    """One positive with a low probability would give a threshold near 0 (every text a
    threat); below ``min_positives`` the default holds, and thresholds.json says why."""
    rng = np.random.default_rng(3)
    probs = rng.random((200, 2)).astype(np.float32) * 0.5
    targets = np.zeros((200, 2), dtype=int)
    targets[:30, 0] = 1
    probs[:30, 0] += 0.5
    targets[0, 1], probs[0, 1] = 1, 0.006  # threat: one positive, scored 0.006
    tuning = tune_thresholds(probs, targets, LABELS, min_positives=10)
    assert tuning.tuned == {"toxic": True, "threat": False}
    assert tuning.thresholds["threat"] == 0.5
    assert 0.45 < tuning.thresholds["toxic"] < 0.55
    payload = tuning.to_json()
    assert payload["min_positives"] == 10
    assert payload["kept_default"] == {"threat": "1 positive validation rows (fewer than 10)"}
    # with the rule off (min_positives=1) the single positive drags the threshold to ~0
    assert tune_thresholds(probs, targets, LABELS, min_positives=1).thresholds["threat"] < 0.01


def test_json_payload_has_the_shared_format() -> None:
    probs = np.array([[0.125, 0.5], [0.75, 0.25]], dtype=np.float32)
    targets = np.array([[0, -1], [1, -1]])
    payload = tune_thresholds(probs, targets, LABELS, min_positives=1).to_json()
    assert set(payload) == {
        "metric",
        "default",
        "thresholds",
        "val_scores",
        "min_positives",
        "kept_default",
    }
    assert payload["metric"] == "f1" and payload["default"] == 0.5
    assert payload["thresholds"] == {"toxic": 0.4375, "threat": 0.5}
    assert payload["val_scores"] == {"toxic": 1.0, "threat": None}  # no scored row: null


def test_unknown_metric_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown threshold metric 'accuracy'"):
        tune_thresholds(np.zeros((2, 2)), np.zeros((2, 2)), LABELS, metric="accuracy")


def test_f_beta_metric_matches_sklearn_brute_force() -> None:
    rng = np.random.default_rng(2)
    target = (rng.random(200) < 0.15).astype(int)
    probs = np.clip(0.3 * target + rng.random(200) * 0.8, 0, 1).astype(np.float32)
    result = tune_label(probs, target, "f2", min_positives=1)
    best = max(fbeta_score(target, probs >= t, beta=2) for t in np.unique(probs))
    assert result.score == pytest.approx(best)
