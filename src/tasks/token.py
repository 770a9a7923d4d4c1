"""Token tagging: one tag per word (VUA metaphor 0/1, WNUT-17 BIO entities).

The first sub-token of each word carries its tag (the others are ignored, -100); the loss is
cross-entropy over tags, optionally class-weighted; scores are word-level (binary scheme) or
entity-level seqeval (BIO scheme), computed on whole sentences at the end of an epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from src.data.alignment import IGNORE
from src.errors import TextlabError
from src.metrics.token import SCHEMES, WordTagCollector, token_scores
from src.tasks.base import TOKENS, Task

if TYPE_CHECKING:
    from src.data.module import RawSplit


class TagCrossEntropy(nn.Module):
    """Cross-entropy over the tags of labelled sub-tokens (-100 ignored), optionally weighted
    per tag."""

    def __init__(self, weights: Sequence[float] | None = None) -> None:
        super().__init__()
        weight = None if weights is None else torch.tensor([float(w) for w in weights])
        self.register_buffer("class_weight", weight)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), weight=self.class_weight, ignore_index=IGNORE
        )


class TokenTask(Task):
    """Tags per word; cross-entropy over sub-tokens; seqeval (BIO) or word (binary) scores.

    Args:
        scheme: ``bio`` (entity spans) or ``binary`` (class ``1`` over words).
        class_weights: a cross-entropy weight per tag in label order (e.g. ``[1, 3]`` for VUA's
            11 % metaphors); null = none.
    """

    name: ClassVar[str] = "token"
    output: ClassVar[str] = TOKENS
    prog_bar: ClassVar[frozenset[str]] = frozenset({"f1"})
    headline: ClassVar[tuple[str, ...]] = ("f1", "precision", "recall", "accuracy")

    def __init__(self, scheme: str = "bio", class_weights: Sequence[float] | None = None) -> None:
        if scheme not in SCHEMES:
            raise TextlabError(f"data.scheme must be one of {list(SCHEMES)}, got {scheme!r}")
        self.scheme = scheme
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def loss(self, label_names: list[str]) -> nn.Module:
        weights = self.class_weights
        if weights is not None and (len(weights) != len(label_names) or min(weights) <= 0):
            raise TextlabError(
                f"data.task.class_weights needs {len(label_names)} positive numbers (one per "
                f"tag, in label order {label_names}), got {weights}"
            )
        return TagCrossEntropy(weights)

    def scores(self, label_names: list[str]) -> WordTagCollector:
        return WordTagCollector(label_names, self.scheme)

    def update_scores(self, scores: Any, logits: torch.Tensor, batch: dict[str, Any]) -> None:
        scores.update(logits, batch)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    def config(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "class_weights": self.class_weights}

    # -- baselines: one feature row per word, sentences in order --------------------------
    def fit_predict_baseline(
        self,
        estimator: Any,
        X_train: Any,
        X_eval: dict[str, Any],
        splits: dict[str, RawSplit],
        missing: dict[str, np.ndarray] | None = None,
    ) -> dict[str, list[list[str]]]:
        """``split -> tags per word of each sentence`` from one fit over every train word.

        ``missing``: per split (train too), words without features (cut off by the encoder's
        max_length): left out of the fit and given the most frequent training tag, as the
        neural tagger predicts the outside tag for them."""
        from sklearn.base import clone

        missing = missing or {}
        y = np.asarray([tag for tags in splits["train"].labels for tag in tags], dtype=object)
        keep = ~missing.get("train", np.zeros(len(y), dtype=bool))
        model = clone(estimator).fit(X_train[np.flatnonzero(keep)], y[keep])
        values, counts = np.unique(y, return_counts=True)
        most_frequent = str(values[np.argmax(counts)])
        out = {}
        for split, X in X_eval.items():
            tags = np.asarray([str(t) for t in model.predict(X)], dtype=object)
            if split in missing:
                tags[missing[split]] = most_frequent
            out[split] = _per_sentence([str(t) for t in tags], splits[split].texts)
        return out

    def baseline_scores(self, predictions: list[list[str]], split: RawSplit) -> dict[str, float]:
        """Word (binary) or entity (BIO) scores of the predicted tags."""
        return token_scores(split.labels, predictions, self.scheme)


def _per_sentence(flat: list[str], sentences: list[list[Any]]) -> list[list[str]]:
    """Cut a flat list (one entry per word) back into sentences."""
    out, start = [], 0
    for sentence in sentences:
        out.append(flat[start : start + len(sentence)])
        start += len(sentence)
    return out
