"""One round's model: built (cold or warm start), fitted on the labelled rows, and its
predictions, all through Lightning.

Predictions run in Lightning's predict loop (the run's accelerator and precision, the model's
``predict_step``): eval-mode probabilities for scoring and for the strategies, and Monte-Carlo
dropout samples for BALD. For those, the predict loop runs a thin wrapper whose
``on_predict_model_eval`` hook switches dropout back on after Lightning's ``eval()`` and whose
``predict_step`` runs the T passes of each batch; Lightning restores every module's mode when
the loop ends, so dropout is on only while querying.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import lightning.pytorch as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from src.active_learning.settings import ActiveSettings
from src.config import ThresholdsSchema
from src.data.batching import TokenizedDataset, padded_loader
from src.evaluation.predictions import SplitPredictions, evaluate_predictions, inference_trainer
from src.evaluation.thresholds import tune_thresholds
from src.models.module import EncoderModule, set_prior_bias

Weights = dict[str, torch.Tensor]
HEAD_PREFIX = "head."
#: the per-round numbers (rounds.csv columns and Aim metrics); AUC needs no threshold
SCORES = ("auc_macro", "f1_micro", "f1_macro")


# -- build and fit ---------------------------------------------------------------------------------
def build_round_model(
    build_model: Callable[..., EncoderModule],
    label_names: list[str],
    settings: ActiveSettings,
    previous: Weights | None,
) -> EncoderModule:
    """A fresh model (pretrained encoder, new head), then, from the previous round: all
    weights (warm start) or all but the head (cold start, ``cold_reset=head``)."""
    model = build_model(label_names=label_names)
    if previous is None or not settings.keeps_weights:
        return model
    if settings.start == "warm":
        model.load_state_dict(previous)
    else:
        encoder_only = {k: v for k, v in previous.items() if not k.startswith(HEAD_PREFIX)}
        model.load_state_dict(encoder_only, strict=False)
    return model


def fit_round(
    build_trainer: Callable[[], L.Trainer],
    model: EncoderModule,
    train_split: TokenizedDataset,
    labelled_rows: np.ndarray,
    batch_size: int,
    pad_token_id: int,
    prior_bias: bool = False,
) -> None:
    """Train on the labelled rows with a fresh Trainer (no checkpoints, no logger);
    ``prior_bias``: the output bias starts at the labelled rows' label priors."""
    if prior_bias:
        set_prior_bias(model, train_split.labels[labelled_rows])
    labelled = train_split.subset(labelled_rows)
    generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    data = padded_loader(labelled, batch_size, pad_token_id, True, generator)
    trainer = build_trainer()
    trainer.fit(model=model, train_dataloaders=data)


# -- predictions -----------------------------------------------------------------------------------
@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Lightning's info lines (devices found, tips) once per round, from the fit, are enough."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def predictor(accelerator: str, precision: str) -> L.Trainer:
    """A Trainer for Lightning's predict loop on one device (its device lines silenced)."""
    with _quiet("lightning.pytorch.utilities.rank_zero"):
        return inference_trainer(accelerator, precision)


def predict_splits(
    model: EncoderModule, loaders: list[DataLoader], accelerator: str, precision: str
) -> list[SplitPredictions]:
    """Each loader's float32 logits, targets and probabilities (model in eval mode)."""
    outputs = predictor(accelerator, precision).predict(model, dataloaders=loaders)
    # Lightning returns one list of predict_step outputs per loader, or one list for one loader
    per_loader = cast(list[list[dict[str, Any]]], [outputs] if len(loaders) == 1 else outputs)
    predictions = []
    for batches in per_loader:
        logits = torch.cat([b["logits"] for b in batches]).float().cpu()
        targets = torch.cat([b["labels"] for b in batches]).cpu()
        probs = model.task.probabilities(logits)
        predictions.append(SplitPredictions(logits.numpy(), targets.numpy(), probs.numpy()))
    return predictions


def eval_probs(
    model: EncoderModule, data: DataLoader, precision: str, accelerator: str
) -> np.ndarray:
    """``[N, L]`` probabilities with dropout off (model in eval mode)."""
    return predict_splits(model, [data], accelerator, precision)[0].probs


class MCDropoutPasses(L.LightningModule):
    """Runs ``model`` ``passes`` times per batch with dropout on, in Lightning's predict loop.

    ``scope="model"``: every ``nn.Dropout`` of encoder and head is on and each pass runs the
    whole model (attention-probability dropout, which follows the attention module's mode in
    transformers, stays off). ``scope="head"``: the model runs once (encoder in eval mode, its
    pooled vector kept by a hook) and each pass runs only the head, with its dropout on.
    """

    def __init__(self, model: EncoderModule, passes: int, scope: str) -> None:
        super().__init__()
        self.model = model
        self.passes = passes
        self.scope = scope

    def on_predict_model_eval(self) -> None:
        """Lightning's ``eval()``, then dropout on where the scope says."""
        self.eval()
        switched = self.model if self.scope == "model" else self.model.head
        for module in switched.modules():
            if isinstance(module, nn.Dropout):
                module.train()

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """``[passes, B, L]`` probabilities."""
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if self.scope == "head":
            captured: list[torch.Tensor] = []
            hook = self.model.head.register_forward_pre_hook(
                lambda _module, args: captured.append(args[0])
            )
            try:
                self.model(ids, mask)  # the encoder's pass; the hook keeps the pooled vector
            finally:
                hook.remove()
            outputs = [self.model.head(captured[0]) for _ in range(self.passes)]
        else:
            outputs = [self.model(ids, mask) for _ in range(self.passes)]
        return torch.stack([self.model.task.probabilities(o.float()) for o in outputs])


def mc_dropout_probs(
    model: EncoderModule,
    data: DataLoader,
    passes: int,
    scope: str,
    precision: str,
    accelerator: str,
) -> np.ndarray:
    """``[passes, N, L]`` probabilities with dropout on at query time only (see
    :class:`MCDropoutPasses`)."""
    sampler = MCDropoutPasses(model, passes, scope)
    batches = predictor(accelerator, precision).predict(sampler, dataloaders=data)
    passes_per_batch = cast(list[torch.Tensor], batches)  # one loader: one output per batch
    return torch.cat([b.cpu() for b in passes_per_batch], dim=1).numpy()


def evaluate_round(
    model: EncoderModule,
    val: DataLoader,
    test: DataLoader,
    label_names: list[str],
    thresholds: ThresholdsSchema,
    precision: str,
    accelerator: str,
) -> tuple[dict[str, float], dict[str, Any]]:
    """``{split}/auc_macro``, ``{split}/f1_micro``, ``{split}/f1_macro`` at the default
    threshold and ``{split}/f1_micro_tuned``, ``{split}/f1_macro_tuned`` at per-label thresholds
    tuned on validation (``src.evaluation.thresholds``); also the thresholds.json payload."""
    val_pred, test_pred = predict_splits(model, [val, test], accelerator, precision)
    tuning = tune_thresholds(
        val_pred.probs,
        val_pred.targets,
        label_names,
        thresholds.metric,
        thresholds.default,
        thresholds.min_positives,
    )
    metrics: dict[str, float] = {}
    for split, pred in (("val", val_pred), ("test", test_pred)):
        scores = evaluate_predictions(pred, label_names, tuning.thresholds, thresholds.default)
        for key in SCORES:
            metrics[f"{split}/{key}"] = scores["default"][key]
        metrics[f"{split}/f1_micro_tuned"] = scores["tuned"]["f1_micro"]
        metrics[f"{split}/f1_macro_tuned"] = scores["tuned"]["f1_macro"]
    return metrics, tuning.to_json()
