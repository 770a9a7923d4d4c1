"""Multi-label sequence classifier: encoder -> pooler -> tanh head -> BCE, as a LightningModule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from src.metrics.multilabel import MultilabelScores
from src.models.losses import MaskedBCEWithLogits
from src.models.pooled_classifier import PooledSequenceClassifier
from src.models.pos_weight import pos_weight_settings, pos_weights_from_labels
from src.utils.plain import plain_dict


class MultilabelClassifier(PooledSequenceClassifier):
    """Fine-tunes any Hugging Face encoder for multi-label classification.

    Args:
        encoder: an ``AutoModel`` (BERT, DistilBERT, ...) without task head.
        label_names: one name per output; metric keys use them (``val/auc/toxic``).
        pooling: ``cls`` or ``mean`` (attention-masked).
        dropout: dropout before and after the tanh projection.
        optimizer: a partial ``torch.optim`` constructor taking parameter groups.
        scheduler: a partial taking ``(optimizer, num_training_steps)``; stepped per batch.
        weight_decay: applied to all weights except biases and LayerNorm.
        pos_weight: ``{enabled, cap}``: BCE pos_weight = negatives/positives per label of the
            training split, capped (``src.models.pos_weight``); off by default.
        freeze: ``{embeddings, layers, encoder}``: freeze the embeddings, the first N encoder
            layers, or the whole encoder (``src.models.freezing``); off by default.
    """

    #: which pipeline pieces apply (thresholds and calibration are multi-label only)
    task = "multilabel"
    prog_bar_metrics = frozenset({"auc_macro", "f1_macro"})

    def __init__(
        self,
        encoder: nn.Module,
        label_names: list[str],
        pooling: str = "cls",
        dropout: float = 0.1,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
        pos_weight: Mapping[str, Any] | None = None,
        freeze: Mapping[str, Any] | None = None,
    ) -> None:
        # plain dicts and list: hyper-parameters must load with torch.load(weights_only=True)
        pos_weight = plain_dict(pos_weight)
        freeze = plain_dict(freeze)
        label_names = [str(name) for name in label_names]
        super().__init__(
            encoder, label_names, pooling, dropout, optimizer, scheduler, weight_decay, freeze
        )
        self.save_hyperparameters(ignore=["encoder", "optimizer", "scheduler"])
        self.loss_fn = MaskedBCEWithLogits()
        self.pos_weight_cap = pos_weight_settings(pos_weight)

    def make_scores(self) -> MultilabelScores:
        return MultilabelScores(self.label_names)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(logits, labels)  # -1 (unscored) entries masked

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def setup(self, stage: str) -> None:
        """pos_weight from the training split's labels, when ``model.pos_weight`` is on."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if stage == "fit" and self.pos_weight_cap is not None and datamodule is not None:
            labels = datamodule.train_dataset.labels
            self.loss_fn.set_pos_weight(pos_weights_from_labels(labels, self.pos_weight_cap))
