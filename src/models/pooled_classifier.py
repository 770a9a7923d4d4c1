"""What every sequence classifier shares: encoder -> pooler -> tanh head, optimizer, the
train/val/test loops. Subclasses add the loss, the probabilities and the metrics of a task."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as L
import torch
from torch import nn
from torchmetrics import Metric

from src.models.encoder import accepted_inputs, last_hidden_state
from src.models.freezing import freeze_encoder
from src.models.heads import TanhProjectionHead
from src.models.optim import configure_adamw_schedule
from src.models.poolers import build_pooler


class PooledSequenceClassifier(L.LightningModule):
    """One vector per text (``cls`` or attention-masked ``mean`` pooling) -> one logit per label.

    Subclasses set ``task`` and implement :meth:`loss`, :meth:`probabilities`,
    :meth:`score_targets` and :meth:`make_scores`, then call ``save_hyperparameters``.
    """

    task: str = ""
    #: metric names shown in the progress bar
    prog_bar_metrics: frozenset[str] = frozenset()

    def __init__(
        self,
        encoder: nn.Module,
        label_names: list[str],
        pooling: str = "cls",
        dropout: float = 0.1,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
        freeze: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # from_pretrained returns the encoder in eval mode and Lightning keeps each module's mode,
        # so without this the encoder's dropout would stay off during fine-tuning.
        self.encoder = encoder.train()
        self.pooler = build_pooler(pooling)
        self.head = TanhProjectionHead(encoder.config.hidden_size, len(label_names), dropout)
        self.frozen_parameters = freeze_encoder(self.encoder, freeze)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.weight_decay = weight_decay
        self.label_names = [str(name) for name in label_names]
        self._encoder_inputs = accepted_inputs(encoder)
        self.val_scores = self.make_scores()
        self.test_scores = self.make_scores()

    # -- what a task provides -------------------------------------------------------------
    @abstractmethod
    def make_scores(self) -> Metric:
        """A fresh metric whose ``compute()`` returns ``{name: value}``."""

    @abstractmethod
    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch from its float32 logits and its ``labels`` tensor."""

    @abstractmethod
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from logits (sigmoid per label, or softmax over classes)."""

    def score_targets(self, labels: torch.Tensor) -> torch.Tensor:
        """The batch's labels in the form the metric takes."""
        return labels

    # -- shared ---------------------------------------------------------------------------
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any
    ) -> torch.Tensor:
        """Logits [batch, num_labels]."""
        hidden = last_hidden_state(
            self.encoder,
            self._encoder_inputs,
            input_ids=input_ids,
            attention_mask=attention_mask,
            **extra,
        )
        return self.head(self.pooler(hidden, attention_mask))

    def _logits_and_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        return logits, self.loss(logits, batch["labels"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        _, loss = self._logits_and_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["labels"]))
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str, scores: Metric) -> None:
        logits, loss = self._logits_and_loss(batch)
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(batch["labels"]))
        scores.update(self.probabilities(logits), self.score_targets(batch["labels"]))

    def _log_scores(self, stage: str, scores: Metric) -> None:
        for name, value in scores.compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=name in self.prog_bar_metrics)
        scores.reset()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val", self.val_scores)

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val", self.val_scores)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test", self.test_scores)

    def on_test_epoch_end(self) -> None:
        self._log_scores("test", self.test_scores)

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.probabilities(self(batch["input_ids"], batch["attention_mask"]).float())

    def configure_optimizers(self) -> Any:
        return configure_adamw_schedule(
            self, self.weight_decay, self.optimizer_factory, self.scheduler_factory
        )
