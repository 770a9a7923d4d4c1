"""Token classifier: encoder -> dropout -> linear per sub-token, cross-entropy (ignore -100)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from torch import nn

from src.data.token_alignment import IGNORE
from src.metrics.token import SCHEMES
from src.metrics.token_collector import WordTagCollector
from src.models.encoder import accepted_inputs, last_hidden_state
from src.models.freezing import freeze_encoder
from src.models.optim import configure_adamw_schedule
from src.utils.errors import TextlabError
from src.utils.plain import plain_dict


def _class_weights(weights: Sequence[float] | None, num_labels: int) -> torch.Tensor | None:
    if weights is None:
        return None
    values = [float(w) for w in weights]
    if len(values) != num_labels or any(w <= 0 for w in values):
        raise TextlabError(
            f"model.class_weights needs {num_labels} positive numbers (one per tag, in label "
            f"order), got {values}"
        )
    return torch.tensor(values)


class TokenTagger(L.LightningModule):
    """Fine-tunes any Hugging Face encoder to tag every word (first sub-token labelled).

    Args:
        encoder: an ``AutoModel`` without task head.
        label_names: the tags; the first is the default tag (``O`` or ``0``).
        scheme: ``bio`` (seqeval entity scores) or ``binary`` (class ``1`` over words).
        dropout: before the linear layer.
        class_weights: cross-entropy weight per tag (e.g. ``[1, 3]`` for VUA's 11 % metaphors).
        optimizer, scheduler, weight_decay, freeze: as ``MultilabelClassifier``.
    """

    #: sequence pipeline pieces (thresholds, calibration) do not apply to token tasks
    task = "token"

    def __init__(
        self,
        encoder: nn.Module,
        label_names: list[str],
        scheme: str = "bio",
        dropout: float = 0.1,
        class_weights: Sequence[float] | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        weight_decay: float = 0.01,
        freeze: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if scheme not in SCHEMES:
            raise TextlabError(f"model.scheme must be one of {list(SCHEMES)}, got {scheme!r}")
        label_names = [str(name) for name in label_names]  # plain: weights-only checkpoints
        class_weights = None if class_weights is None else [float(w) for w in class_weights]
        freeze = plain_dict(freeze)
        self.save_hyperparameters(ignore=["encoder", "optimizer", "scheduler"])
        # from_pretrained returns eval mode; Lightning keeps it, so switch dropout on here
        self.encoder = encoder.train()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, len(label_names))
        self.register_buffer("class_weight", _class_weights(class_weights, len(label_names)))
        self.frozen_parameters = freeze_encoder(self.encoder, freeze)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.label_names = list(label_names)
        self.scheme = scheme
        self._encoder_inputs = accepted_inputs(encoder)
        self.collectors = {s: WordTagCollector(label_names, scheme) for s in ("val", "test")}

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any
    ) -> torch.Tensor:
        """Logits [batch, sequence, tags]."""
        hidden = last_hidden_state(
            self.encoder,
            self._encoder_inputs,
            input_ids=input_ids,
            attention_mask=attention_mask,
            **extra,
        )
        return self.head(self.dropout(hidden))

    def _logits_and_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        loss = F.cross_entropy(
            logits.flatten(0, 1),
            batch["labels"].flatten(),
            weight=self.class_weight,
            ignore_index=IGNORE,
        )
        return logits, loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        _, loss = self._logits_and_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        return loss

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        logits, loss = self._logits_and_loss(batch)
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(batch["input_ids"]))
        self.collectors[stage].update(logits, batch)

    def _log_scores(self, stage: str) -> None:
        for name, value in self.collectors[stage].compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "f1")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_scores("test")

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return torch.softmax(self(batch["input_ids"], batch["attention_mask"]).float(), dim=-1)

    def configure_optimizers(self) -> Any:
        return configure_adamw_schedule(
            self, self.hparams.weight_decay, self.optimizer_factory, self.scheduler_factory
        )
