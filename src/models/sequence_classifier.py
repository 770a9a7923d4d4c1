"""Multi-label sequence classifier: encoder -> pooler -> tanh head -> BCE, as a LightningModule."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as L
import torch
from torch import nn

from src.metrics.multilabel import MultilabelScores
from src.models.freezing import freeze_encoder
from src.models.heads import TanhProjectionHead
from src.models.losses import MaskedBCEWithLogits
from src.models.optim import decay_groups
from src.models.poolers import build_pooler
from src.models.pos_weight import pos_weight_settings, pos_weights_from_labels
from src.utils.plain import plain_dict


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
        pos_weight: ``{enabled, cap}``: BCE pos_weight = negatives/positives per label of the
            training split, capped (``src.models.pos_weight``); off by default.
        freeze: ``{embeddings, layers, encoder}``: freeze the embeddings, the first N encoder
            layers, or the whole encoder (``src.models.freezing``); off by default.
    """

    #: which pipeline pieces apply (thresholds and calibration are multi-label only)
    task = "multilabel"

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
        super().__init__()
        # plain dicts: hyper-parameters must load with torch.load(weights_only=True)
        pos_weight = plain_dict(pos_weight)
        freeze = plain_dict(freeze)
        label_names = [
            str(name) for name in label_names
        ]  # plain list: checkpoints load weights-only
        self.save_hyperparameters(ignore=["encoder", "optimizer", "scheduler"])
        # from_pretrained returns the encoder in eval mode and Lightning keeps each module's mode,
        # so without this the encoder's dropout would stay off during fine-tuning.
        self.encoder = encoder.train()
        self.pooler = build_pooler(pooling)
        self.head = TanhProjectionHead(encoder.config.hidden_size, len(label_names), dropout)
        self.loss_fn = MaskedBCEWithLogits()
        self.pos_weight_cap = pos_weight_settings(pos_weight)
        self.frozen_parameters = freeze_encoder(self.encoder, freeze)
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
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        return logits, self.loss_fn(logits, batch["labels"])  # -1 (unscored) entries masked

    def setup(self, stage: str) -> None:
        """pos_weight from the training split's labels, when ``model.pos_weight`` is on."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if stage == "fit" and self.pos_weight_cap is not None and datamodule is not None:
            labels = datamodule.train_dataset.labels
            self.loss_fn.set_pos_weight(pos_weights_from_labels(labels, self.pos_weight_cap))

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
