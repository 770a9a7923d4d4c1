"""Multi-class sequence classifier: encoder -> pooler -> tanh head -> softmax cross-entropy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from src.metrics.multiclass import MulticlassScores
from src.models.class_weights import balanced_class_weights, class_weight_setting
from src.models.pooled_classifier import PooledSequenceClassifier
from src.utils.plain import plain_dict


class MulticlassClassifier(PooledSequenceClassifier):
    """Fine-tunes any Hugging Face encoder to pick one class per text.

    Batches carry one-hot ``labels`` [B, C] (see ``src.data.multiclass_datamodule``); the loss
    is cross-entropy against their arg-max. Metrics: accuracy, macro / weighted F1 and F1 per
    class (``src.metrics.multiclass``).

    Args:
        class_weights: ``none`` or ``balanced`` (weights from the training split's class
            counts, ``src.models.class_weights``).
        others: as :class:`src.models.sequence_classifier.MultilabelClassifier`.
    """

    task = "multiclass"
    prog_bar_metrics = frozenset({"accuracy", "f1_macro"})

    def __init__(
        self,
        encoder: nn.Module,
        label_names: list[str],
        pooling: str = "cls",
        dropout: float = 0.1,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
        class_weights: str | None = "none",
        freeze: Mapping[str, Any] | None = None,
    ) -> None:
        freeze = plain_dict(freeze)  # plain values: checkpoints load weights-only
        label_names = [str(name) for name in label_names]
        class_weights = class_weight_setting(class_weights)
        super().__init__(
            encoder, label_names, pooling, dropout, optimizer, scheduler, weight_decay, freeze
        )
        self.save_hyperparameters(ignore=["encoder", "optimizer", "scheduler"])
        # not saved in checkpoints: recomputed from the training data when training starts
        self.register_buffer("class_weight", None, persistent=False)

    def make_scores(self) -> MulticlassScores:
        return MulticlassScores(self.label_names)

    def score_targets(self, labels: torch.Tensor) -> torch.Tensor:
        return labels.argmax(dim=1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = None if self.class_weight is None else self.class_weight.to(logits.device)
        return F.cross_entropy(logits, labels.argmax(dim=1), weight=weight)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    def setup(self, stage: str) -> None:
        """Class weights from the training split, when ``model.class_weights=balanced``."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if stage == "fit" and self.hparams.class_weights == "balanced" and datamodule is not None:
            class_ids = datamodule.train_dataset.labels.argmax(axis=1)
            self.class_weight = balanced_class_weights(class_ids, len(self.label_names))
