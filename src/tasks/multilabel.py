"""Multi-label classification: each text may carry any number of labels (Jigsaw, GoEmotions).

Sigmoid per label, binary cross-entropy over the scored entries (-1 marks an unscored label,
as in Jigsaw's test labels), AUC and F1 that skip unscored entries, decision thresholds per
label (``thresholds.json``, tuned on validation after fit).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from src.config import plain_dict
from src.errors import TextlabError
from src.metrics.multilabel import MultilabelScores, multilabel_scores
from src.metrics.thresholds import tune_thresholds
from src.tasks.base import Task
from src.tasks.formats import threshold_option

if TYPE_CHECKING:
    from src.data.module import RawSplit

UNSCORED = -1
THRESHOLDS_FILE = "thresholds.json"
DEFAULT_THRESHOLD = 0.5


class MaskedBCEWithLogits(nn.Module):
    """BCE-with-logits over entries whose target is not -1, with optional per-label pos_weight.

    ``pos_weight`` is a non-persistent buffer: it follows the model to its device but is not
    saved in checkpoints (it is recomputed from the training data when training starts), so
    checkpoints with and without it load into the same model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pos_weight", None, persistent=False)

    def set_pos_weight(self, weights: torch.Tensor | None) -> None:
        self.pos_weight = None if weights is None else weights.detach().to(torch.float32)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scored = labels >= 0
        weight = None
        if self.pos_weight is not None:
            weight = self.pos_weight.to(logits.device).expand_as(logits)[scored]
        return F.binary_cross_entropy_with_logits(logits[scored], labels[scored], pos_weight=weight)


def pos_weights_from_labels(labels: np.ndarray, cap: float) -> torch.Tensor:
    """``[L]`` BCE positive weights from a ``[N, L]`` 1/0/-1 label matrix: negatives/positives
    per label (a label's positives weigh as much in the loss as its negatives), capped so a
    label with a handful of positives does not dominate; a label with none gets ``cap``.

    Example:
        >>> pos_weights_from_labels(np.array([[1, 0], [0, 0], [0, 1], [0, 0]]), cap=10.0)
        tensor([3., 3.])
    """
    labels = np.asarray(labels)
    positives = (labels == 1).sum(axis=0).astype(np.float64)
    negatives = (labels == 0).sum(axis=0).astype(np.float64)
    ratio = np.divide(negatives, positives, out=np.full_like(negatives, cap), where=positives > 0)
    return torch.as_tensor(np.minimum(ratio, cap), dtype=torch.float32)


def pos_weight_cap(settings: Mapping[str, Any] | None) -> float | None:
    """``data.task.pos_weight`` -> its cap when enabled, else None."""
    if not settings or not settings.get("enabled", False):
        return None
    cap = settings.get("cap")
    if isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 1:
        raise TextlabError(
            f"data.task.pos_weight.cap must be a number >= 1, got {cap!r}; "
            "e.g. data.task.pos_weight.cap=30"
        )
    return float(cap)


def prior_log_odds(labels: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Log-odds of each label's prevalence among its scored rows."""
    labels = np.asarray(labels)
    scored = labels >= 0
    positives = ((labels == 1) & scored).sum(axis=0)
    prevalence = np.clip(positives / np.maximum(scored.sum(axis=0), 1), eps, 1 - eps)
    return np.log(prevalence / (1 - prevalence))


# -- thresholds ---------------------------------------------------------------------------
def read_thresholds(run_dir: str | Path, label_names: list[str]) -> dict[str, float]:
    """``label -> threshold`` from ``<run>/thresholds.json``, checked against the labels."""
    path = Path(run_dir) / THRESHOLDS_FILE
    if not path.is_file():
        raise TextlabError(
            f"{path} not found: this run has no tuned thresholds (trained with the threshold "
            "analysis switched off, or before it existed); use thresholds=0.5"
        )
    try:
        thresholds = json.loads(path.read_text())["thresholds"]
        values = {name: float(thresholds[name]) for name in label_names}
    except (ValueError, KeyError, TypeError) as err:
        raise TextlabError(
            f"{path} is not a thresholds file with a threshold for each of {label_names} "
            f"({type(err).__name__}: {err}); retrain, or use thresholds=0.5"
        ) from err
    bad = {k: v for k, v in values.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise TextlabError(f"{path}: thresholds must lie in [0, 1], got {bad}")
    return values


#: ``tuned`` -> None (read thresholds.json); a number in [0, 1] -> that threshold
parse_threshold_option = threshold_option


def run_thresholds(
    run_dir: str | Path, label_names: list[str], option: Any = "tuned"
) -> tuple[list[float], str]:
    """The thresholds a run predicts with, in label order, and where they come from: a fixed
    number, the run's tuned ``thresholds.json``, or 0.5 when it has none."""
    fixed = parse_threshold_option(option)
    if fixed is not None:
        return [fixed] * len(label_names), f"{fixed:g} (thresholds={option})"
    if (Path(run_dir) / THRESHOLDS_FILE).is_file():
        tuned = read_thresholds(run_dir, label_names)
        return [tuned[n] for n in label_names], f"tuned ({THRESHOLDS_FILE})"
    default = [DEFAULT_THRESHOLD] * len(label_names)
    return default, f"{DEFAULT_THRESHOLD} (the run has no {THRESHOLDS_FILE})"


class MultilabelTask(Task):
    """Sigmoid per label; BCE (optionally pos-weighted); AUC/F1 skipping unscored entries.

    Args:
        pos_weight: ``{enabled, cap}``: BCE pos_weight = negatives/positives per label of the
            training split, capped; off by default.
    """

    name: ClassVar[str] = "multilabel"
    prog_bar: ClassVar[frozenset[str]] = frozenset({"auc_macro", "f1_macro"})
    headline: ClassVar[tuple[str, ...]] = (
        "auc_macro",
        "f1_macro",
        "f1_micro",
        "tuned/f1_macro",
        "tuned/f1_micro",
    )
    binary_per_label: ClassVar[bool] = True
    per_label_thresholds: ClassVar[bool] = True

    def __init__(self, pos_weight: Mapping[str, Any] | None = None) -> None:
        self.pos_weight = plain_dict(pos_weight)
        self.pos_weight_cap = pos_weight_cap(self.pos_weight)

    def loss(self, label_names: list[str]) -> nn.Module:
        return MaskedBCEWithLogits()

    def fit_loss(self, loss: nn.Module, train_labels: np.ndarray) -> None:
        if self.pos_weight_cap is not None:
            loss.set_pos_weight(pos_weights_from_labels(train_labels, self.pos_weight_cap))

    def scores(self, label_names: list[str]) -> MultilabelScores:
        return MultilabelScores(label_names)

    def update_scores(self, scores: Any, logits: torch.Tensor, batch: dict[str, Any]) -> None:
        scores.update(self.probabilities(logits), batch["labels"])

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def prior_logits(self, train_labels: np.ndarray) -> np.ndarray:
        return prior_log_odds(train_labels)

    def config(self) -> dict[str, Any]:
        return {"pos_weight": self.pos_weight}

    # -- baselines ------------------------------------------------------------------------
    def fit_predict_baseline(
        self,
        estimator: Any,
        X_train: Any,
        X_eval: dict[str, Any],
        splits: dict[str, RawSplit],
        missing: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """``split -> [N, L]`` probabilities: one binary fit per label on its scored train rows
        (-1 dropped); a label with a single class in train gets that constant probability."""
        from sklearn.base import clone

        Y_train = np.asarray(splits["train"].labels)
        n_labels = Y_train.shape[1]
        probs = {s: np.zeros((X.shape[0], n_labels), dtype=np.float32) for s, X in X_eval.items()}
        for j in range(n_labels):
            scored = Y_train[:, j] != UNSCORED
            y = Y_train[scored, j].astype(int)
            if len(np.unique(y)) < 2:  # nothing to separate: the prior (0 or 1) for every row
                prior = float(y.mean()) if len(y) else 0.0
                for split in probs:
                    probs[split][:, j] = prior
                continue
            model = clone(estimator).fit(X_train[np.flatnonzero(scored)], y)
            positive = list(model.classes_).index(1)
            for split, X in X_eval.items():
                probs[split][:, j] = model.predict_proba(X)[:, positive].astype(np.float32)
        return probs

    def baseline_scores(self, predictions: np.ndarray, split: RawSplit) -> dict[str, float]:
        """AUC and F1 at 0.5, as the neural runs' validation and test scores."""
        return multilabel_scores(predictions, split.labels, split.label_names, DEFAULT_THRESHOLD)

    def score_baseline(
        self,
        predictions: dict[str, np.ndarray],
        splits: dict[str, RawSplit],
        threshold_metric: str = "f1",
        default_threshold: float = DEFAULT_THRESHOLD,
    ) -> tuple[dict[str, float], dict[str, Any] | None]:
        """Adds F1 at per-label thresholds tuned on validation (``val/tuned/f1_macro``...), as
        the neural runs' threshold analysis does."""
        metrics, _ = super().score_baseline(predictions, splits)
        names = splits["train"].label_names
        tuning = tune_thresholds(
            predictions["val"], splits["val"].labels, names, threshold_metric, default_threshold
        )
        for split, probs in predictions.items():
            tuned = multilabel_scores(probs, splits[split].labels, names, tuning.as_list(names))
            f1 = {key: value for key, value in tuned.items() if key.startswith("f1")}
            metrics.update({f"{split}/tuned/{key}": value for key, value in f1.items()})
        return metrics, tuning.to_json()
