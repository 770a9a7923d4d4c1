"""After test, for multi-class runs: the confusion matrix of the best checkpoint on test
(counts + row-normalised, PNG in ``plots/`` and an Aim image) and per-class scores."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from sklearn.metrics import confusion_matrix

from src.metrics.multiclass import multiclass_scores
from src.pipeline.aim_artifacts import aim_runs
from src.pipeline.load_run import load_run
from src.pipeline.predictions import predict_logits
from src.plots.confusion import plot_confusion_matrix

log = logging.getLogger(__name__)
PLOTS_DIR = "plots"
CONFUSION_PLOT = "confusion_matrix"


@dataclass
class MulticlassAnalysis:
    """What ``statistics.json`` gets under ``evaluation``; plots go to Aim too."""

    checkpoint: str | None
    label_names: list[str]
    scores: dict[str, float]
    confusion: np.ndarray
    plots: dict[str, Path] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "labels": self.label_names,
            "test": self.scores,
            "confusion_matrix": self.confusion.tolist(),
        }


def analyse_multiclass(
    cfg: DictConfig, best_checkpoint: str | None, model: Any, datamodule: Any, output_dir: Path
) -> MulticlassAnalysis:
    """Reload the best checkpoint (else use ``model``), predict test, count, plot."""
    if best_checkpoint:
        model = load_run(best_checkpoint).model
    fast_dev_run = cfg.trainer.get("fast_dev_run") or 0
    datamodule.setup("test")
    preds = predict_logits(
        model,
        datamodule.test_dataloader(),
        precision=cfg.trainer.get("precision"),
        accelerator=cfg.trainer.get("accelerator"),
        max_batches=int(fast_dev_run) if fast_dev_run else None,
    )
    labels = list(model.label_names)
    targets = preds.targets.argmax(axis=1)  # one-hot rows -> class ids
    probs = torch.softmax(torch.from_numpy(preds.logits), dim=1).numpy()
    scores = multiclass_scores(probs, targets, labels)
    counts = confusion_matrix(targets, probs.argmax(axis=1), labels=range(len(labels)))
    plots = {}
    if cfg.get("evaluation", {}).get("plots", True):
        path = Path(output_dir) / PLOTS_DIR / f"{CONFUSION_PLOT}.png"
        plots[CONFUSION_PLOT] = plot_confusion_matrix(counts, labels, path)
    log.info("test accuracy %.4f, macro-F1 %.4f", scores["accuracy"], scores["f1_macro"])
    return MulticlassAnalysis(best_checkpoint, labels, scores, counts, plots)


def log_multiclass_to_aim(loggers: Iterable[Any], analysis: MulticlassAnalysis | None) -> int:
    """The confusion matrix as a run param and its PNG as an Aim image; returns how many runs."""
    runs = aim_runs(loggers) if analysis is not None else []
    if not runs:
        return 0
    from PIL import Image as PILImage

    from aim import Image

    for run in runs:
        run["confusion_matrix"] = {
            "labels": analysis.label_names,
            "counts": analysis.confusion.tolist(),
        }
        for name, path in analysis.plots.items():
            with PILImage.open(path) as image:
                image.load()
                run.track(Image(image.copy(), caption=name), name=name, context={"kind": "plot"})
    return len(runs)
