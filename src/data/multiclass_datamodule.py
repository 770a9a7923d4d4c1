"""Multi-class text data: one label per row, on the shared multi-label machinery.

Rows are stored one-hot, so the base class's hold-out split (stratified by class), row
subsets, token cache, padding collator and optional balanced sampler apply unchanged; the
model and the metrics take the arg-max of a row as its class id.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from src.data.multilabel_datamodule import LabelledTexts, MultilabelDataModule
from src.data.raw_split import RawSplit


def one_hot(class_ids: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 [N, C] with a 1 at each row's class id.

    Example:
        >>> one_hot(np.array([2, 0]), 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    out = np.zeros((len(class_ids), num_classes), dtype=np.float32)
    out[np.arange(len(class_ids)), np.asarray(class_ids, dtype=np.int64)] = 1.0
    return out


def labelled(texts: list[str], class_ids: np.ndarray, ids: list[str], n: int) -> LabelledTexts:
    """Rows with class ids, as the one-hot ``LabelledTexts`` the base class works on."""
    return LabelledTexts(texts, one_hot(class_ids, n), ids)


class MulticlassDataModule(MultilabelDataModule):
    """Base for single-label data sets: subclass and implement the readers (class ids ->
    :func:`labelled`); ``label_columns`` are the class names in id order."""

    def __init__(self, **common: Any) -> None:
        super().__init__(drop_unscored_test_rows=False, **common)

    def raw_split(self, split: str) -> RawSplit:
        """The rows the neural run uses for ``split`` (subsets included), untokenised, with
        int64 class ids [N] instead of the stored one-hot rows."""
        raw = super().raw_split(split)
        return RawSplit(raw.texts, raw.labels.argmax(axis=1).astype(np.int64), raw.label_names)
