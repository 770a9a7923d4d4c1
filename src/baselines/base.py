"""What a baseline is: a featuriser per task plus a scikit-learn estimator per task.

Sequence tasks (multilabel, multiclass) get one feature row per text; token tasks get one row
per word, in sentence order (the runner flattens the tags the same way).
"""

from __future__ import annotations

from typing import Any, Protocol

TASKS = ("multilabel", "multiclass", "token")


class Featurizer(Protocol):
    """Learns its vocabulary (if any) on train, then maps inputs to a feature matrix."""

    def fit_transform(self, inputs: list[Any]) -> Any: ...

    def transform(self, inputs: list[Any]) -> Any: ...


class Baseline(Protocol):
    """A baseline's two parts; ``name`` is the config name (dummy, tfidf_lr, frozen_lr)."""

    name: str

    def featurizer(self, task: str) -> Featurizer: ...

    def estimator(self, task: str) -> Any: ...


def rows_of(inputs: list[Any], task: str) -> int:
    """Feature rows for these inputs: texts, or words of every sentence for token tasks."""
    return sum(len(words) for words in inputs) if task == "token" else len(inputs)
