"""Multi-label sequence classifier: encoder -> pooler -> tanh head -> BCE, as a LightningModule."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import lightning.pytorch as L
import torch
from torch import nn

from src.metrics.multilabel import MultilabelScores
from src.models.heads import TanhProjectionHead
from src.models.optim import decay_groups
from src.models.poolers import build_pooler


class MultilabelClassifier(L.LightningModule):
    """Fine-tunes any Hugging Face encoder for multi-label classification.

    Args:
        encoder: an ``AutoModel`` (BERT, DistilBERT, ...) without task head.
        label_names: one name per output; metric keys use them (``val/auc/toxic``).
        pooling: ``cls`` or ``mean`` (attention-masked).
        dropout: dropout before and after the tanh projection.
        optimizer: a partial ``torch.optim`` constructor taking parameter groups.
        scheduler: a partial taking ``(optimizer, num_training_steps)``; stepped per batch.
        weight_decay: applied to all weights except biases and LayerNorm.
    """

    def __init__(
        self,
        encoder: nn.Module,
        label_names: list[str],
        pooling: str = "cls",
        dropout: float = 0.1,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__()
        label_names = [
            str(name) for name in label_names
        ]  # plain list: checkpoints load weights-only
        self.save_hyperparameters(ignore=["encoder", "optimizer", "scheduler"])
        # from_pretrained returns the encoder in eval mode and Lightning keeps each module's mode,
        # so without this the encoder's dropout would stay off during fine-tuning.
        self.encoder = encoder.train()
        self.pooler = build_pooler(pooling)
        self.head = TanhProjectionHead(encoder.config.hidden_size, len(label_names), dropout)
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.label_names = list(label_names)
        accepted = inspect.signature(encoder.forward).parameters
        self._encoder_inputs = [
            k for k in ("input_ids", "attention_mask", "token_type_ids") if k in accepted
        ]
        self.val_scores = MultilabelScores(self.label_names)
        self.test_scores = MultilabelScores(self.label_names)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any
    ) -> torch.Tensor:
        """Logits [batch, num_labels]."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, **extra}
        inputs = {k: v for k, v in inputs.items() if k in self._encoder_inputs}
        hidden = self.encoder(**inputs).last_hidden_state
        return self.head(self.pooler(hidden, attention_mask))

    def _logits_and_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        labels = batch["labels"]
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        scored = labels >= 0  # -1 marks an unscored (row, label) entry
        loss = self.loss_fn(logits[scored], labels[scored])
        return logits, loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        _, loss = self._logits_and_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["labels"]))
        return loss

    def _eval_step(
        self, batch: dict[str, torch.Tensor], stage: str, scores: MultilabelScores
    ) -> None:
        logits, loss = self._logits_and_loss(batch)
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(batch["labels"]))
        scores.update(torch.sigmoid(logits), batch["labels"])

    def _log_scores(self, stage: str, scores: MultilabelScores) -> None:
        values = scores.compute()
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name in {"auc_macro", "f1_macro"})
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
        return torch.sigmoid(self(batch["input_ids"], batch["attention_mask"]).float())

    def configure_optimizers(self) -> Any:
        groups = decay_groups(self, self.hparams.weight_decay)
        factory = self.optimizer_factory or torch.optim.AdamW
        optimizer = factory(groups)
        if self.scheduler_factory is None:
            return optimizer
        steps = self.trainer.estimated_stepping_batches
        scheduler = self.scheduler_factory(optimizer, num_training_steps=steps)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
