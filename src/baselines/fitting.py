"""Featurise the splits, fit the baseline's estimator on train, predict val and test."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from src.baselines import classifiers
from src.baselines.base import Baseline
from src.data.raw_split import RawSplit

EVAL_SPLITS = ("val", "test")


def fit_predict(
    baseline: Baseline, task: str, splits: dict[str, RawSplit], sklearn_threads: int | None = 1
) -> tuple[dict[str, Any], dict[str, float]]:
    """Predictions for val and test (probabilities, or tags per word) and the seconds spent
    (plus the feature cache hits and truncated words of frozen-encoder features).

    ``sklearn_threads`` caps scikit-learn's OpenMP threads while fitting (None: no cap). On a
    busy 2-core machine its spinning OpenMP threads made one logistic regression
    over 20x slower (a liblinear fit on 360 Jigsaw rows at load average 8).
    """
    started = time.time()
    featurizer = baseline.featurizer(task)
    X_train = featurizer.fit_transform(splits["train"].texts)
    X_eval = {s: featurizer.transform(splits[s].texts) for s in EVAL_SPLITS}
    featurised = time.time()
    missing = None
    if task == "token" and hasattr(featurizer, "missing_words"):  # words cut off by max_length
        missing = {"train": featurizer.missing_words(X_train)}
        missing.update({split: featurizer.missing_words(X) for split, X in X_eval.items()})
    with threadpool_limits(sklearn_threads, user_api="openmp"):
        estimator = baseline.estimator(task)
        preds = _fit_and_predict(estimator, task, X_train, X_eval, splits, missing)
    timings = {"features_s": featurised - started, "fit_predict_s": time.time() - featurised}
    info: dict[str, Any] = {k: round(v, 2) for k, v in timings.items()}
    for name in ("cache_hits", "truncated_words"):  # frozen-encoder features only
        if hasattr(featurizer, name):
            info[name] = getattr(featurizer, name)
    return preds, info


def _fit_and_predict(
    estimator: Any,
    task: str,
    X_train: Any,
    X_eval: dict[str, Any],
    splits: dict[str, RawSplit],
    missing: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    train = splits["train"]
    if task == "multilabel":
        return classifiers.multilabel_probs(estimator, X_train, train.labels, X_eval)
    if task == "multiclass":
        n_classes = len(train.label_names)
        return classifiers.multiclass_probs(estimator, X_train, train.labels, n_classes, X_eval)
    flat = classifiers.token_tags(estimator, X_train, train.labels, X_eval, missing)
    return {s: classifiers.unflatten(flat[s], splits[s].texts) for s in EVAL_SPLITS}
