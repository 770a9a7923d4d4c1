"""The floor every model must beat: class priors, whatever the input says."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier

from src.baselines.base import rows_of


class ConstantFeatures:
    """One all-zero column per row: the dummy classifier ignores its input anyway."""

    def __init__(self, task: str) -> None:
        self.task = task

    def fit_transform(self, inputs: list[Any]) -> np.ndarray:
        return self.transform(inputs)

    def transform(self, inputs: list[Any]) -> np.ndarray:
        return np.zeros((rows_of(inputs, self.task), 1), dtype=np.float32)


class DummyBaseline:
    """Per-label prior probabilities (multilabel), the class priors with the most frequent
    class predicted (multiclass), the most frequent tag for every word (token)."""

    name = "dummy"

    def featurizer(self, task: str) -> ConstantFeatures:
        return ConstantFeatures(task)

    def estimator(self, task: str) -> DummyClassifier:
        # "prior": predict_proba = training class frequencies, predict = the most frequent class
        return DummyClassifier(strategy="prior")
