"""Logits of a whole split from a trained model: the input of every post-training analysis.

A plain loop under the run's own precision (bf16 autocast for ``bf16-mixed``), so the training
run and ``python -m src.eval`` get bit-identical numbers from the same checkpoint.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader


@dataclass
class SplitPredictions:
    """``[N, L]`` float32 logits and 1/0/-1 targets of one split."""

    logits: np.ndarray
    targets: np.ndarray

    @property
    def probs(self) -> np.ndarray:
        """sigmoid(logits) in float32, as the model's ``predict_step`` computes it."""
        return torch.sigmoid(torch.from_numpy(self.logits)).numpy()


def inference_device(accelerator: str | None) -> torch.device:
    """CUDA when the run trained on a GPU and one is here, else CPU."""
    if str(accelerator) in {"gpu", "cuda", "auto"} and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def autocast_for(
    precision: str | int | None, device: torch.device
) -> contextlib.AbstractContextManager:
    """The autocast Lightning uses for this precision (none for 32-bit)."""
    precision = str(precision)
    if precision.startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision.startswith("16") and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dataloader: DataLoader,
    precision: str | int | None = "32-true",
    accelerator: str | None = "cpu",
    max_batches: int | None = None,
) -> SplitPredictions:
    """Run ``model`` (eval mode) over every batch of ``dataloader``, in order."""
    device = inference_device(accelerator)
    was_training = model.training
    model.eval().to(device)
    logits, targets = [], []
    try:
        for index, batch in enumerate(dataloader):
            if max_batches is not None and index >= max_batches:
                break
            with autocast_for(precision, device):
                out = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            logits.append(out.float().cpu())
            targets.append(batch["labels"].cpu())
    finally:
        model.train(was_training)
    return SplitPredictions(torch.cat(logits).numpy(), torch.cat(targets).numpy())
