"""A model's predictions on a split: Lightning's predict loop on the run's precision and
device, the task's probabilities, and the scores at the default and tuned thresholds."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lightning.pytorch as L
import numpy as np
import torch

from src.data.batching import ROW_INDEX, restore_row_order
from src.tasks.base import Task
from src.tasks.multilabel.metrics import Threshold, scores_at_thresholds

if TYPE_CHECKING:
    from src.models.module import EncoderModule


@dataclass
class SplitPredictions:
    """A split's float32 logits ``[N, L]``, targets and the task's probabilities."""

    logits: np.ndarray
    targets: np.ndarray
    probs: np.ndarray


def evaluate_predictions(
    predictions: SplitPredictions,
    label_names: list[str],
    tuned: dict[str, float] | None = None,
    default: float = 0.5,
) -> dict[str, dict[str, float]]:
    """``{"default": scores at `default`, "tuned": scores at the per-label thresholds}``:
    precision/recall/F1 per label and macro/micro, AUC per label and macro."""
    probs, targets = predictions.probs, predictions.targets
    result = {"default": scores_at_thresholds(probs, targets, label_names, default)}
    if tuned is not None:
        per_label: Threshold = [tuned[name] for name in label_names]
        result["tuned"] = scores_at_thresholds(probs, targets, label_names, per_label)
    return result


def stack_predictions(batches: list[dict[str, Any]], task: Task) -> SplitPredictions | None:
    """One split's ``predict_step`` outputs as arrays, rows in dataset (file) order when the
    batches carry their rows' positions (the DataModule's loaders sort rows by length); None
    for ragged token logits or batches without labels."""
    if not batches or "labels" not in batches[0] or batches[0]["logits"].ndim != 2:
        return None
    logits = torch.cat([b["logits"].cpu() for b in batches]).float()
    targets = torch.cat([b["labels"].cpu() for b in batches])
    if ROW_INDEX in batches[0]:
        positions = torch.cat([b[ROW_INDEX].cpu() for b in batches])
        logits = restore_row_order(logits, positions)
        targets = restore_row_order(targets, positions)
    probs = task.probabilities(logits)
    return SplitPredictions(logits.numpy(), targets.numpy(), probs.numpy())


def inference_trainer(accelerator: str | None, precision: str | int | None) -> L.Trainer:
    """A bare Trainer for scoring a model outside its training run: the run's GPU when it
    trained on one and one is here (else the CPU), at the run's precision (fp16 autocast,
    which CPUs lack, becomes fp32 there)."""
    on_gpu = str(accelerator) in {"gpu", "cuda", "auto"} and torch.cuda.is_available()
    precision = str(precision or "32-true")
    if not on_gpu and precision.startswith("16"):
        precision = "32-true"
    return L.Trainer(
        accelerator="gpu" if on_gpu else "cpu",
        devices=1,
        precision=cast(Any, precision),  # a config's string: Lightning checks it
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def predict_split(
    model: EncoderModule, dataloader: Any, accelerator: str | None, precision: Any
) -> SplitPredictions | None:
    """A model's predictions over one loader through Lightning's predict loop."""
    batches = inference_trainer(accelerator, precision).predict(model, dataloaders=dataloader)
    # one loader: a flat list of predict_step outputs (None only without return_predictions)
    return stack_predictions(cast(list[dict[str, Any]], batches or []), model.task)


#: per-example predictions of a run's splits (``save_predictions``)
PREDICTIONS_FILE = "predictions.npz"


def save_predictions(
    run_dir: str | Path,
    predictions: dict[str, SplitPredictions],
    label_names: list[str],
    one_class_per_row: bool = False,
) -> Path:
    """``<run>/predictions.npz``: ``<split>_probs`` (float32 ``[N, L]``), ``<split>_targets``
    (multi-label: int8 ``[N, L]``, -1 = unscored; multi-class: the class ids ``[N]``) and
    ``labels``, rows in the split's file order, so runs on the same data pair row by row."""
    from src.runs.folder import atomic_write_bytes

    arrays: dict[str, np.ndarray] = {"labels": np.asarray(label_names, dtype=str)}
    for split, preds in predictions.items():
        targets = np.asarray(preds.targets)
        if one_class_per_row and targets.ndim == 2:  # multi-class: one-hot rows -> class ids
            targets = targets.argmax(axis=1)
        arrays[f"{split}_probs"] = np.asarray(preds.probs, dtype=np.float32)
        arrays[f"{split}_targets"] = targets.astype(np.int8 if targets.ndim == 2 else np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=True, **arrays)  # numpy's default, named
    return atomic_write_bytes(Path(run_dir) / PREDICTIONS_FILE, buffer.getvalue())


def load_predictions(run_dir: str | Path) -> dict[str, np.ndarray] | None:
    """The arrays of ``<run>/predictions.npz``; None when the run has none or it is damaged."""
    path = Path(run_dir) / PREDICTIONS_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError):
        return None
