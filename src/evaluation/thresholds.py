"""Per-label decision thresholds tuned on validation predictions.

A 0.5 threshold is a poor default for rare labels (Jigsaw's threat is ~0.3% positive): the
model's probabilities for them rarely pass 0.5. For each label we score every distinct predicted
probability as a threshold (a row is positive when ``prob >= threshold``, as in
the multi-label scores), keep the best, and return the midpoint
between it and the next lower probability: the same validation predictions, with a margin.

Supported metrics: ``f1``, any F-beta (``f2``, ``f0.5``), ``mcc`` and ``youden`` (TPR - FPR).

A label with fewer than ``min_positives`` positive validation rows keeps the default threshold:
the best threshold found on one or two positives is whatever those rows' probabilities happen
to be (tuned on one positive, Jigsaw's ``threat`` got 0.006, and "you are an idiot" was
labelled a threat). ``thresholds.json`` records, for each label that kept the default, why.

This module owns ``thresholds.json``: tuning, writing and reading it (eval, export, predict
and serve all read it here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from src.errors import TextlabError
from src.tasks.output import DEFAULT_THRESHOLD

UNSCORED = -1
Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (sklearn's zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _f_beta(beta: float) -> Callable[..., np.ndarray]:
    b2 = beta * beta

    def score(tp, fp, fn, tn):
        return _ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)

    return score


def _mcc(tp, fp, fn, tn) -> np.ndarray:
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return _ratio(tp * tn - fp * fn, den)


def _youden(tp, fp, fn, tn) -> np.ndarray:
    return _ratio(tp, tp + fn) - _ratio(fp, fp + tn)


def metric_function(name: str) -> Callable[..., np.ndarray]:
    """``f1``, ``f<beta>`` (``f2``, ``f0.5``), ``mcc`` or ``youden`` -> score(tp, fp, fn, tn)."""
    if name == "mcc":
        return _mcc
    if name == "youden":
        return _youden
    match = re.fullmatch(r"f(\d+(?:\.\d+)?)", name)
    if match and float(match.group(1)) > 0:
        return _f_beta(float(match.group(1)))
    raise ValueError(f"unknown threshold metric {name!r}; use f1, f2, f0.5, mcc or youden")


def confusion_at(probs: np.ndarray, positive: np.ndarray, thresholds: np.ndarray) -> Counts:
    """TP, FP, FN, TN of ``probs >= t`` for every t in ``thresholds`` (one label, valid rows)."""
    probs = np.asarray(probs, dtype=np.float32)
    thresholds = np.asarray(thresholds, dtype=np.float32)
    pos = np.sort(probs[positive])
    neg = np.sort(probs[~positive])
    # searchsorted(side="left") counts the rows with prob < t, i.e. the ones predicted negative
    fn = np.searchsorted(pos, thresholds, side="left").astype(np.float64)
    tn = np.searchsorted(neg, thresholds, side="left").astype(np.float64)
    return len(pos) - fn, len(neg) - tn, fn, tn


@dataclass
class LabelThreshold:
    """The tuned threshold of one label and the validation score it gives."""

    threshold: float
    score: float
    tuned: bool  # False: too few positives (or rows) in validation; default kept
    #: why the default was kept (None when tuned)
    reason: str | None = None


def _midpoint_below(candidates: np.ndarray, k: int) -> float:
    """A float32 threshold between candidates[k-1] and candidates[k] selecting the same rows."""
    upper = candidates[k]
    lower = candidates[k - 1] if k > 0 else np.float32(0.0)
    mid = np.float32((np.float64(lower) + np.float64(upper)) / 2)
    return float(mid if lower < mid <= upper else upper)


#: fewest positive validation rows a label needs for its threshold to be tuned
MIN_POSITIVES = 10


def tune_label(
    probs: np.ndarray,
    targets: np.ndarray,
    metric: str = "f1",
    default: float = DEFAULT_THRESHOLD,
    min_positives: int = MIN_POSITIVES,
) -> LabelThreshold:
    """Best threshold for one label; ``targets`` may hold -1 (dropped). Fewer than
    ``min_positives`` positives: the default, and the reason."""
    score_fn = metric_function(metric)
    valid = np.asarray(targets) != UNSCORED
    probs = np.asarray(probs, dtype=np.float32)[valid]
    positive = np.asarray(targets)[valid] == 1
    n_positive = int(positive.sum())
    if n_positive < max(min_positives, 1):  # too little to tune on: keep the default
        reason = f"{n_positive} positive validation rows (fewer than {max(min_positives, 1)})"
        if not valid.any():
            return LabelThreshold(default, float("nan"), False, "no scored validation rows")
        score = score_fn(*confusion_at(probs, positive, np.array([default])))[0]
        return LabelThreshold(default, float(score), False, reason)
    candidates = np.unique(probs)  # sorted, distinct
    scores = score_fn(*confusion_at(probs, positive, candidates))
    best = int(np.argmax(scores))  # the lowest threshold among ties
    return LabelThreshold(_midpoint_below(candidates, best), float(scores[best]), True)


@dataclass
class ThresholdTuning:
    """Per-label thresholds, keyed by label name, with the metric they maximise."""

    metric: str
    default: float
    thresholds: dict[str, float]
    val_scores: dict[str, float]
    tuned: dict[str, bool]
    min_positives: int = MIN_POSITIVES
    #: label -> why it kept the default threshold
    kept_default: dict[str, str] = field(default_factory=dict)

    def as_list(self, label_names: list[str]) -> list[float]:
        return [self.thresholds[name] for name in label_names]

    def to_json(self) -> dict:
        """The ``thresholds.json`` payload (format shared with export/serving)."""

        def clean(value: float) -> float | None:
            return None if np.isnan(value) else value

        return {
            "metric": self.metric,
            "default": self.default,
            "thresholds": dict(self.thresholds),
            "val_scores": {k: clean(v) for k, v in self.val_scores.items()},
            "min_positives": self.min_positives,
            "kept_default": dict(self.kept_default),
        }


def tune_thresholds(
    probs: np.ndarray,
    targets: np.ndarray,
    label_names: list[str],
    metric: str = "f1",
    default: float = DEFAULT_THRESHOLD,
    min_positives: int = MIN_POSITIVES,
) -> ThresholdTuning:
    """One threshold per label maximising ``metric`` on these (validation) predictions; a label
    with fewer than ``min_positives`` positives keeps ``default``.

    Example:
        >>> probs = np.array([[0.125], [0.375], [0.5], [0.75]])
        >>> targets = np.array([[0], [1], [1], [1]])
        >>> tune_thresholds(probs, targets, ["toxic"], min_positives=1).thresholds
        {'toxic': 0.25}
    """
    metric_function(metric)  # fail on a bad name before any work
    probs, targets = np.asarray(probs), np.asarray(targets)
    if probs.ndim != 2 or probs.shape != targets.shape or probs.shape[1] != len(label_names):
        raise ValueError(
            f"probs and targets must both be [N, {len(label_names)}], "
            f"got {probs.shape} and {targets.shape}"
        )
    results = {
        name: tune_label(probs[:, j], targets[:, j], metric, default, min_positives)
        for j, name in enumerate(label_names)
    }
    return ThresholdTuning(
        metric=metric,
        default=float(default),
        thresholds={name: r.threshold for name, r in results.items()},
        val_scores={name: r.score for name, r in results.items()},
        tuned={name: r.tuned for name, r in results.items()},
        min_positives=min_positives,
        kept_default={name: r.reason for name, r in results.items() if r.reason},
    )


def threshold_sweep(
    probs: np.ndarray, targets: np.ndarray, grid: np.ndarray, metric: str = "f1"
) -> np.ndarray:
    """``metric`` at every threshold of ``grid`` for one label (for threshold-sweep plots)."""
    valid = np.asarray(targets) != UNSCORED
    positive = np.asarray(targets)[valid] == 1
    return metric_function(metric)(*confusion_at(np.asarray(probs)[valid], positive, grid))


# -- thresholds.json: the one file a run's thresholds live in ---------------------------------
THRESHOLDS_FILE = "thresholds.json"


def write_thresholds(run_dir: str | Path, tuning: ThresholdTuning) -> Path:
    """``<run>/thresholds.json`` from a tuning (written atomically)."""
    from src.runs.folder import write_json

    return write_json(Path(run_dir) / THRESHOLDS_FILE, tuning.to_json())


def read_thresholds(run_dir: str | Path, label_names: list[str]) -> dict[str, float]:
    """``label -> threshold`` from ``<run>/thresholds.json``, checked against the labels."""
    path = Path(run_dir) / THRESHOLDS_FILE
    if not path.is_file():
        raise TextlabError(
            f"{path} not found: this run has no tuned thresholds (trained with the threshold "
            "analysis switched off); use thresholds=0.5"
        )
    try:
        thresholds = json.loads(path.read_text())["thresholds"]
        values = {name: float(thresholds[name]) for name in label_names}
    except (ValueError, KeyError, TypeError) as err:
        raise TextlabError(
            f"{path} is not a thresholds file with a threshold for each of {label_names} "
            f"({type(err).__name__}: {str(err)[:200]}); retrain, or use thresholds=0.5"
        ) from None
    bad = {k: v for k, v in values.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise TextlabError(f"{path}: thresholds must lie in [0, 1], got {bad}")
    return values


def default_thresholds_payload(label_names: list[str]) -> dict[str, Any]:
    """A ``thresholds.json`` payload giving every label the default threshold."""
    return {
        "metric": None,
        "default": DEFAULT_THRESHOLD,
        "thresholds": dict.fromkeys(label_names, DEFAULT_THRESHOLD),
        "val_scores": {},
    }


def run_thresholds_file(run_dir: Path, label_names: list[str]) -> tuple[dict[str, Any], str]:
    """(thresholds.json content for an export, a note saying where it came from): the run's
    tuned ``thresholds.json``, checked as ``src.eval`` checks it and copied unchanged, or
    the default for every label."""
    path = run_dir / THRESHOLDS_FILE
    if not path.is_file():
        payload = default_thresholds_payload(label_names)
        return payload, f"default {DEFAULT_THRESHOLD} for every label ({path} not found)"
    read_thresholds(run_dir, label_names)  # raises a one-line TextlabError on a bad file
    return json.loads(path.read_text()), f"tuned: {path}"
