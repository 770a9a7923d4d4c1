"""Score baseline predictions with the metric functions the neural runs use."""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from src.data.raw_split import RawSplit
from src.metrics.multilabel import multilabel_scores
from src.metrics.thresholds import tune_thresholds

BINARY_TAGS = {"0", "1"}
EVAL_SPLITS = ("val", "test")


def tag_scheme(tags: list[list[str]]) -> str:
    """``binary`` for 0/1 word labels (VUA), else ``bio`` (entity tags such as WNUT-17's)."""
    seen = {tag for sentence in tags for tag in sentence}
    return "binary" if seen <= BINARY_TAGS else "bio"


def score(task: str, predictions: Any, split: RawSplit, scheme: str | None = None) -> dict:
    """Multilabel: probabilities at 0.5; multiclass: probabilities; token: tags per word."""
    if task == "multilabel":
        return multilabel_scores(predictions, split.labels, split.label_names, 0.5)
    if task == "multiclass":
        from src.metrics.multiclass import multiclass_scores

        return multiclass_scores(np.asarray(predictions), split.labels, split.label_names)
    from src.metrics.token import token_scores

    return token_scores(split.labels, predictions, scheme or tag_scheme(split.labels))


def prefixed(scores: dict[str, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}/{key}": value for key, value in scores.items()}


def score_predictions(
    task: str,
    preds: dict[str, Any],
    splits: dict[str, RawSplit],
    evaluation: DictConfig,
    scheme: str | None = None,
) -> tuple[dict[str, float], dict | None]:
    """``val/...`` and ``test/...`` scores; multilabel adds F1 at per-label thresholds tuned
    on validation (``val/tuned/f1_macro``...), as the neural runs' post-training step does.
    ``scheme``: the token tag scheme (``data.scheme``); inferred from the tags when None."""
    if task == "token" and scheme is None:
        scheme = tag_scheme(splits["train"].labels)
    metrics: dict[str, float] = {}
    for split in EVAL_SPLITS:
        metrics.update(prefixed(score(task, preds[split], splits[split], scheme), split))
    if task != "multilabel":
        return metrics, None
    names = splits["train"].label_names
    metric = str(evaluation.get("threshold_metric", "f1"))
    default = float(evaluation.get("default_threshold", 0.5))
    tuning = tune_thresholds(preds["val"], splits["val"].labels, names, metric, default)
    for split in EVAL_SPLITS:
        tuned = multilabel_scores(preds[split], splits[split].labels, names, tuning.as_list(names))
        f1_keys = {k: v for k, v in tuned.items() if k.startswith("f1")}
        metrics.update(prefixed(f1_keys, f"{split}/tuned"))
    return metrics, tuning.to_json()
