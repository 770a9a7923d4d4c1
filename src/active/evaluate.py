"""Score a round's model: thresholds re-tuned on validation, test at 0.5 and tuned."""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from src.metrics.multilabel import multilabel_scores
from src.metrics.thresholds import tune_thresholds
from src.pipeline.predictions import predict_logits

#: the per-round numbers (rounds.csv columns and Aim metrics); AUC needs no threshold
SCORES = ("auc_macro", "f1_micro", "f1_macro")


def evaluate_round(
    model: nn.Module,
    val: DataLoader,
    test: DataLoader,
    label_names: list[str],
    threshold_metric: str,
    default_threshold: float,
    precision: str,
    accelerator: str,
) -> tuple[dict[str, float], dict[str, Any]]:
    """``{split}/auc_macro``, ``{split}/f1_micro``, ``{split}/f1_macro`` at the default
    threshold and ``{split}/f1_micro_tuned``, ``{split}/f1_macro_tuned`` at per-label thresholds
    tuned on validation (``src.metrics.thresholds``); also the thresholds.json payload."""
    val_pred = predict_logits(model, val, precision, accelerator)
    test_pred = predict_logits(model, test, precision, accelerator)
    tuning = tune_thresholds(
        val_pred.probs, val_pred.targets, label_names, threshold_metric, default_threshold
    )
    tuned = tuning.as_list(label_names)
    metrics: dict[str, float] = {}
    for split, pred in (("val", val_pred), ("test", test_pred)):
        fixed = multilabel_scores(pred.probs, pred.targets, label_names, default_threshold)
        at_tuned = multilabel_scores(pred.probs, pred.targets, label_names, tuned)
        for key in SCORES:
            metrics[f"{split}/{key}"] = fixed[key]
        metrics[f"{split}/f1_micro_tuned"] = at_tuned["f1_micro"]
        metrics[f"{split}/f1_macro_tuned"] = at_tuned["f1_macro"]
    return metrics, tuning.to_json()
