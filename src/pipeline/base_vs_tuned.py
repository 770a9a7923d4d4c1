"""Base-vs-tuned: score the model with its untrained head on test before fine-tuning.

``evaluate_base=true`` runs ``trainer.test`` on a throw-away Trainer (no logger, no
checkpoints, same precision and device) before ``fit``; its metrics are stored as
``base/test/...`` and the fine-tuned minus base difference of every headline metric as
``improvement/test/...``. Evaluation uses no random numbers, so the training run itself is
the same with or without it.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as L
from omegaconf import DictConfig

from src.utils.instantiate import build

BASE = "base/"
IMPROVEMENT = "improvement/"


def headline_keys(metrics: dict[str, Any], split: str = "test") -> list[str]:
    """The aggregate metrics of a split (``test/f1_macro``), not per label and not the loss."""
    prefix = f"{split}/"
    return sorted(
        key
        for key in metrics
        if key.startswith(prefix) and "/" not in key[len(prefix) :] and key != f"{split}/loss"
    )


def evaluate_base(cfg: DictConfig, model: L.LightningModule, datamodule: Any) -> dict[str, float]:
    """``{"base/test/<metric>": value}`` of ``model`` as it is now (before fine-tuning)."""
    trainer: L.Trainer = build(
        cfg.trainer,
        callbacks=[],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    results = trainer.test(model=model, datamodule=datamodule, verbose=False)[0]
    return {f"{BASE}{key}": float(value) for key, value in results.items()}


def improvements(metrics: dict[str, Any], base: dict[str, float]) -> dict[str, float]:
    """``{"improvement/test/<metric>": tuned - base}`` for the headline test metrics."""
    out = {}
    for key in headline_keys(metrics):
        tuned, before = metrics.get(key), base.get(BASE + key)
        if tuned is not None and before is not None:
            out[IMPROVEMENT + key] = float(tuned) - float(before)
    return out
