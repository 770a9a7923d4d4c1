"""multilabel_scores / MultilabelScores against sklearn, including -1 (unscored) targets."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from src.tasks.multilabel.metrics import MultilabelScores, multilabel_scores

NAMES = ["toxic", "obscene", "threat", "insult"]


def make_data(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Targets 0/1 and informative probs rounded to 2 decimals (so there are ties)."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 2, size=(n, len(NAMES)))
    probs = np.clip(0.35 * targets + 0.65 * rng.random((n, len(NAMES))), 0, 1).round(2)
    return probs, targets


def sk_label(probs: np.ndarray, targets: np.ndarray, j: int, thr: float = 0.5) -> tuple:
    """sklearn AUC (NaN if one class) and F1 of label j on its valid (!= -1) rows."""
    keep = targets[:, j] != -1
    t, p = targets[keep, j], probs[keep, j]
    auc = roc_auc_score(t, p) if len(np.unique(t)) == 2 else math.nan
    return auc, f1_score(t, p >= thr, zero_division=0)


def assert_scores_equal(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert float(got[key]) == pytest.approx(float(want[key]), abs=1e-6, nan_ok=True), key


@pytest.mark.parametrize("as_torch", [False, True])
def test_matches_sklearn_without_unscored(as_torch: bool) -> None:
    probs, targets = make_data()
    args = (torch.from_numpy(probs), torch.from_numpy(targets)) if as_torch else (probs, targets)
    got = multilabel_scores(*args, NAMES)

    assert set(got) == {"auc_macro", "f1_macro", "f1_micro"} | {
        f"{m}/{n}" for m in ("auc", "f1") for n in NAMES
    }
    assert all(type(v) is float for v in got.values())
    pred = probs >= 0.5
    assert got["auc_macro"] == pytest.approx(roc_auc_score(targets, probs), abs=1e-6)
    assert got["f1_macro"] == pytest.approx(f1_score(targets, pred, average="macro"), abs=1e-6)
    assert got["f1_micro"] == pytest.approx(f1_score(targets, pred, average="micro"), abs=1e-6)
    for j, name in enumerate(NAMES):
        assert got[f"auc/{name}"] == pytest.approx(roc_auc_score(targets[:, j], probs[:, j]))
        assert got[f"f1/{name}"] == pytest.approx(f1_score(targets[:, j], pred[:, j]), abs=1e-6)
    # Micro and macro really differ here, so the test can tell them apart.
    assert got["f1_micro"] != pytest.approx(got["f1_macro"], abs=1e-6)


def test_single_class_labels_get_nan_auc_and_leave_the_mean() -> None:
    probs, targets = make_data(seed=1)
    targets[:, 1] = 0  # all negative, some probs >= 0.5: F1 = 0 from false positives
    targets[:, 2] = 0  # all negative and never predicted: F1 = 0 by zero_division=0
    probs[:, 2] = 0.1
    targets[:, 3] = 1  # all positive
    got = multilabel_scores(probs, targets, NAMES)

    for name in ("obscene", "threat", "insult"):
        assert math.isnan(got[f"auc/{name}"])
    want_auc = roc_auc_score(targets[:, 0], probs[:, 0])
    assert got["auc/toxic"] == pytest.approx(want_auc, abs=1e-6)
    assert got["auc_macro"] == pytest.approx(want_auc, abs=1e-6)  # not diluted by 0s or NaNs
    assert got["f1/obscene"] == 0.0 and got["f1/threat"] == 0.0
    pred = probs >= 0.5
    want_macro = f1_score(targets, pred, average="macro", zero_division=0)
    assert got["f1_macro"] == pytest.approx(want_macro, abs=1e-6)
    assert got["f1_micro"] == pytest.approx(f1_score(targets, pred, average="micro"), abs=1e-6)


def test_no_label_with_both_classes_gives_nan_auc_macro() -> None:
    probs, targets = np.array([[0.2, 0.9], [0.7, 0.3]]), np.array([[0, 1], [0, 1]])
    got = multilabel_scores(probs, targets, ["a", "b"])
    assert math.isnan(got["auc_macro"])
    assert got["f1/a"] == 0.0 and got["f1/b"] == pytest.approx(2 / 3)


def test_unscored_entries_are_dropped_per_label() -> None:
    probs, targets = make_data(seed=2)
    rng = np.random.default_rng(3)
    targets = np.where(rng.random(targets.shape) < 0.25, -1, targets)
    targets[targets[:, 2] == 1, 2] = -1  # threat: its only positives are unscored -> AUC NaN
    got = multilabel_scores(torch.from_numpy(probs).float(), torch.from_numpy(targets), NAMES)
    probs = probs.astype(np.float32)  # same values the function saw

    aucs, f1s = zip(*(sk_label(probs, targets, j) for j in range(len(NAMES))), strict=True)
    for j, name in enumerate(NAMES):
        assert got[f"auc/{name}"] == pytest.approx(aucs[j], abs=1e-6, nan_ok=True), name
        assert got[f"f1/{name}"] == pytest.approx(f1s[j], abs=1e-6), name
    assert math.isnan(got["auc/threat"])
    assert got["auc_macro"] == pytest.approx(np.nanmean(aucs), abs=1e-6)
    assert got["f1_macro"] == pytest.approx(np.mean(f1s), abs=1e-6)
    valid = targets != -1
    want_micro = f1_score(targets[valid], probs[valid] >= 0.5)
    assert got["f1_micro"] == pytest.approx(want_micro, abs=1e-6)
    # Treating -1 as negative would give different numbers.
    naive = multilabel_scores(probs, np.where(valid, targets, 0), NAMES)
    assert naive["f1_micro"] != pytest.approx(got["f1_micro"], abs=1e-6)
    assert naive["auc/toxic"] != pytest.approx(got["auc/toxic"], abs=1e-6)


def test_label_without_valid_rows_is_nan_and_left_out_of_f1_macro() -> None:
    probs, targets = make_data(seed=4)
    targets[:, 0] = -1
    got = multilabel_scores(probs, targets, NAMES)
    assert math.isnan(got["auc/toxic"]) and math.isnan(got["f1/toxic"])
    f1s = [sk_label(probs, targets, j)[1] for j in range(1, len(NAMES))]
    assert got["f1_macro"] == pytest.approx(np.mean(f1s), abs=1e-6)


def test_per_label_thresholds() -> None:
    probs, targets = make_data(seed=5)
    thresholds = [0.2, 0.5, 0.8, 0.65]
    got = multilabel_scores(probs, targets, NAMES, threshold=thresholds)
    pred = probs >= np.array(thresholds)
    for j, name in enumerate(NAMES):
        assert got[f"f1/{name}"] == pytest.approx(f1_score(targets[:, j], pred[:, j]), abs=1e-6)
    assert got["f1_macro"] == pytest.approx(f1_score(targets, pred, average="macro"), abs=1e-6)
    assert got["f1_micro"] == pytest.approx(f1_score(targets, pred, average="micro"), abs=1e-6)
    default = multilabel_scores(probs, targets, NAMES)
    assert got["auc_macro"] == default["auc_macro"]  # AUC does not depend on thresholds
    for name in ("toxic", "threat", "insult"):
        assert got[f"f1/{name}"] != pytest.approx(default[f"f1/{name}"], abs=1e-6)


def test_threshold_is_inclusive() -> None:
    # prob == threshold counts as positive: TP=1, FN=1 -> F1 = 2/3 (with ">" it would be 0).
    got = multilabel_scores(np.array([[0.5], [0.49]]), np.array([[1], [1]]), ["a"], threshold=0.5)
    assert got["f1/a"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("probs", "targets", "kwargs"),
    [
        (np.full((3, 2), 0.5), np.zeros((3, 3)), {}),  # shape mismatch
        (np.full((3, 3), 0.5), np.zeros((3, 3)), {"threshold": [0.5, 0.5]}),  # wrong length
        (np.full((3, 3), 2.0), np.zeros((3, 3)), {}),  # logits, not probs
        (np.full((3, 3), 0.5), np.full((3, 3), 0.5), {}),  # soft targets
    ],
)
def test_bad_input_raises(probs: np.ndarray, targets: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        multilabel_scores(probs, targets, ["a", "b", "c"], **kwargs)


@pytest.mark.parametrize("threshold", [0.5, [0.3, 0.5, 0.7, 0.4]])
def test_metric_accumulates_batches_and_resets(threshold) -> None:
    probs, targets = make_data(seed=6)
    targets = np.where(np.random.default_rng(7).random(targets.shape) < 0.2, -1, targets)
    probs_t, targets_t = torch.from_numpy(probs).float(), torch.from_numpy(targets).float()
    metric = MultilabelScores(NAMES, threshold=threshold)
    for start, stop in [(0, 70), (70, 71), (71, 200), (200, 300)]:
        metric.update(probs_t[start:stop], targets_t[start:stop])
    got = metric.compute()

    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in got.values())
    assert all(v.is_floating_point() for v in got.values())
    assert_scores_equal(got, multilabel_scores(probs_t, targets_t, NAMES, threshold))

    metric.reset()
    metric.update(probs_t[:100], targets_t[:100])
    want = multilabel_scores(probs_t[:100], targets_t[:100], NAMES, threshold)
    assert_scores_equal(metric.compute(), want)
    assert want["f1_micro"] != pytest.approx(float(got["f1_micro"]), abs=1e-6)


def test_metric_update_rejects_wrong_number_of_labels() -> None:
    with pytest.raises(ValueError):
        MultilabelScores(NAMES).update(torch.rand(4, 3), torch.zeros(4, 3))
