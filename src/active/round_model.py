"""Build and fit the model of one round: cold (reset model or head) or warm start."""

from __future__ import annotations

import lightning.pytorch as L
import numpy as np
import torch
from omegaconf import DictConfig

from src.active.predict import loader, subset
from src.active.settings import ActiveSettings
from src.data.collate import TokenizedDataset
from src.utils.instantiate import build

Weights = dict[str, torch.Tensor]
HEAD_PREFIX = "head."


def build_round_model(
    cfg: DictConfig, label_names: list[str], settings: ActiveSettings, previous: Weights | None
):
    """A fresh model from the config (pretrained encoder, new head), then, from the previous
    round: all weights (warm start) or all but the head (cold start, ``cold_reset=head``)."""
    model = build(cfg.model, label_names=label_names)
    if previous is None or not settings.keeps_weights:
        return model
    if settings.start == "warm":
        model.load_state_dict(previous)
    else:
        encoder_only = {k: v for k, v in previous.items() if not k.startswith(HEAD_PREFIX)}
        model.load_state_dict(encoder_only, strict=False)
    return model


def fit_round(
    cfg: DictConfig,
    model: L.LightningModule,
    train_split: TokenizedDataset,
    labelled_rows: np.ndarray,
    batch_size: int,
    pad_token_id: int,
) -> None:
    """Train on the labelled rows with a fresh Trainer (no checkpoints, no logger)."""
    generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    data = loader(subset(train_split, labelled_rows), batch_size, pad_token_id, True, generator)
    trainer: L.Trainer = build(
        cfg.trainer,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model=model, train_dataloaders=data)
