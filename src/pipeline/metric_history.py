"""Record the training loss per step and the validation metrics per epoch, for the curve plots.

Loggers keep these too, but each in its own format (Aim, CSV, none at all); this callback keeps
them in memory so every run can draw its curves whatever logger it uses.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as L
import torch
from lightning.pytorch.callbacks import Callback


class MetricHistory(Callback):
    """``steps``: [(global step, train loss)]; ``epochs``: one dict of val/* per validation."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, float]] = []
        self.epochs: list[dict[str, float]] = []
        self._since_validation: list[float] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch, batch_idx
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            value = float(loss.detach().float().cpu())
            self.steps.append((trainer.global_step, value))
            self._since_validation.append(value)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        row = {"epoch": float(trainer.current_epoch), "step": float(trainer.global_step)}
        if self._since_validation:
            row["train/loss"] = sum(self._since_validation) / len(self._since_validation)
            self._since_validation = []
        for key, value in trainer.callback_metrics.items():
            if key.startswith("val/") and isinstance(value, torch.Tensor) and value.numel() == 1:
                row[key] = float(value)
        self.epochs.append(row)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [list(s) for s in self.steps], "epochs": list(self.epochs)}
