"""Fit a baseline's estimator on train features and predict the evaluation splits, per task.

multilabel: one binary fit per label on its scored rows (-1 dropped); a label with a single
class in train gets that constant probability. multiclass: one fit, probabilities over every
class (a class absent from train gets 0). token: one fit over all words, predicted tags.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone


def _positive_probs(model: Any, X: Any) -> np.ndarray:
    classes = list(model.classes_)
    return model.predict_proba(X)[:, classes.index(1)].astype(np.float32)


def multilabel_probs(
    estimator: Any, X_train: Any, Y_train: np.ndarray, X_eval: dict[str, Any]
) -> dict[str, np.ndarray]:
    """``split -> [N, L]`` probabilities."""
    n_labels = Y_train.shape[1]
    probs = {s: np.zeros((X.shape[0], n_labels), dtype=np.float32) for s, X in X_eval.items()}
    for j in range(n_labels):
        scored = Y_train[:, j] != -1
        y = Y_train[scored, j].astype(int)
        if len(np.unique(y)) < 2:  # nothing to separate: the prior (0 or 1) for every row
            prior = float(y.mean()) if len(y) else 0.0
            for split in probs:
                probs[split][:, j] = prior
            continue
        model = clone(estimator).fit(X_train[np.flatnonzero(scored)], y)
        for split, X in X_eval.items():
            probs[split][:, j] = _positive_probs(model, X)
    return probs


def multiclass_probs(
    estimator: Any, X_train: Any, y_train: np.ndarray, n_classes: int, X_eval: dict[str, Any]
) -> dict[str, np.ndarray]:
    """``split -> [N, C]`` probabilities, columns in class-id order."""
    model = clone(estimator).fit(X_train, np.asarray(y_train, dtype=int))
    columns = np.asarray(model.classes_, dtype=int)
    out = {}
    for split, X in X_eval.items():
        probs = np.zeros((X.shape[0], n_classes), dtype=np.float32)
        probs[:, columns] = model.predict_proba(X)
        out[split] = probs
    return out


def flatten(tags: list[list[str]]) -> list[str]:
    return [tag for sentence in tags for tag in sentence]


def unflatten(flat: list[str], like: list[list[Any]]) -> list[list[str]]:
    """Cut a flat list back into sentences of the lengths of ``like``."""
    out, start = [], 0
    for sentence in like:
        out.append(list(flat[start : start + len(sentence)]))
        start += len(sentence)
    return out


def token_tags(
    estimator: Any,
    X_train: Any,
    train_tags: list[list[str]],
    X_eval: dict[str, Any],
    missing: dict[str, np.ndarray] | None = None,
) -> dict[str, list[str]]:
    """``split -> flat predicted tags`` (one per word, sentences in order).

    ``missing``: per split (``train`` too), words without features (cut off by the encoder's
    max_length): left out of the fit and given the most frequent training tag, as the neural
    tagger predicts the outside tag for them.
    """
    missing = missing or {}
    y = np.asarray(flatten(train_tags), dtype=object)
    keep = ~missing.get("train", np.zeros(len(y), dtype=bool))
    model = clone(estimator).fit(X_train[np.flatnonzero(keep)], y[keep])
    values, counts = np.unique(y, return_counts=True)
    most_frequent = str(values[np.argmax(counts)])
    out = {}
    for split, X in X_eval.items():
        tags = np.asarray([str(t) for t in model.predict(X)], dtype=object)
        if split in missing:
            tags[missing[split]] = most_frequent
        out[split] = [str(t) for t in tags]
    return out
