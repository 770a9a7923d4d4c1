"""Token tagging: one tag per word (VUA metaphor 0/1, WNUT-17 BIO entities).

The first sub-token of each word carries its tag (the others are ignored, -100); the loss is
cross-entropy over tags, optionally class-weighted; scores are word-level (binary scheme) or
entity-level seqeval (BIO scheme), computed on whole sentences at the end of an epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from src.errors import TextlabError
from src.tasks.base import TOKENS, Task
from src.tasks.token.metrics import IGNORE, SCHEMES, WordTagCollector


class TagCrossEntropy(nn.Module):
    """Cross-entropy over the tags of labelled sub-tokens (-100 ignored), optionally weighted
    per tag."""

    class_weight: torch.Tensor | None  # a buffer (register_buffer)

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
