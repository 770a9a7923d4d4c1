"""After-fit analyses as Lightning callbacks: thin adapters over ``src.evaluation``.

They run in ``trainer.predict``: the training run calls it on the best checkpoint after its
final test, and the DataModule's ``predict_dataloader`` yields the validation then the test
split (``predict_splits``). Lightning's own predict loop produces the logits (with the run's
precision and device); each analysis reads them in ``on_predict_end`` and writes its files
into the run folder (``trainer.default_root_dir``). Each applies to the tasks it names and
quietly skips the others; later analyses can use earlier ones' results (the plots use the
tuned thresholds and the calibrated probabilities), so keep them in this order in config.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as L
import numpy as np
import torch.distributed as dist
from omegaconf import OmegaConf

from src.callbacks.training import MetricHistory
from src.config import Rule, ThresholdsSchema, at_least, store_schema, validated
from src.evaluation.analyses import (
    PLOTS_DIR,
    TUNED_RUN_METRICS,
    analyse_calibration,
    analyse_confusion,
    analyse_thresholds,
    diagnostic_plots,
)
from src.evaluation.predictions import SplitPredictions, save_predictions, stack_predictions
from src.evaluation.thresholds import ThresholdTuning
from src.models.module import EncoderModule
from src.tasks.base import Task
from src.tasks.multiclass.task import MulticlassTask
from src.tasks.multilabel.task import MultilabelTask


@dataclass
class AfterFit:
    """What one predict run gives the analyses: predictions by split and their results."""

    predictions: dict[str, SplitPredictions] | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


_STATE: weakref.WeakKeyDictionary[L.Trainer, AfterFit] = weakref.WeakKeyDictionary()


def after_fit_state(trainer: L.Trainer) -> AfterFit:
    """The shared state of the analyses of this trainer's current predict run."""
    return _STATE.setdefault(trainer, AfterFit())


def _gather(rows: list[Any]) -> list[Any]:
    """Every process's rows (DDP shards are disjoint; the analyses do not depend on order)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows
    everyone: list[list[Any] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, rows)
    return [row for part in everyone for row in (part or [])]


def split_predictions(trainer: L.Trainer, task: Task) -> dict[str, SplitPredictions] | None:
    """The predict loop's outputs as ``{split: SplitPredictions}`` (computed once per run);
    None when the DataModule does not predict named splits with labels."""
    state = after_fit_state(trainer)
    if state.predictions is not None:
        return state.predictions
    # Trainer.datamodule is set at run time; Lightning's stubs lack it
    splits = getattr(trainer.datamodule, "predict_splits", None)  # type: ignore[attr-defined]
    outputs = trainer.predict_loop.predictions
    if not splits or not outputs:
        return None
    if len(splits) == 1:
        outputs = [outputs]
    predictions = {}
    for split, batches in zip(splits, outputs, strict=True):
        stacked = stack_predictions(
            _gather([{k: v.cpu() for k, v in b.items()} for b in batches]), task
        )
        if stacked is None:
            return None  # token logits (ragged per batch) or no labels: nothing to analyse
        predictions[split] = stacked
    state.predictions = predictions
    return predictions


class AfterFitAnalysis(L.Callback):
    """Base: ``analyse`` runs on rank 0 at the end of a predict run, for the tasks in
    ``tasks``; its result (JSON-ready, plus ``plots``: name -> PNG path) is kept for the
    run's statistics and Aim."""

    #: key of the result in statistics.json and in Aim
    name: ClassVar[str]
    tasks: ClassVar[tuple[type[Task], ...]] = (MultilabelTask,)

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        _STATE[trainer] = AfterFit()  # a new predict run: nothing computed yet

    def applies_to(self, task: Any) -> bool:
        """Whether this analysis runs for a model of this task."""
        return self.enabled and isinstance(task, self.tasks)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, EncoderModule) or not self.applies_to(pl_module.task):
            return
        task = pl_module.task
        predictions = split_predictions(trainer, task)  # every rank: it gathers under DDP
        if predictions is None or not trainer.is_global_zero:
            return
        state = after_fit_state(trainer)
        run_dir = Path(trainer.default_root_dir)
        result = self.analyse(predictions, list(pl_module.label_names), run_dir, trainer)
        state.results[self.name] = result

    def analyse(
        self,
        predictions: dict[str, SplitPredictions],
        label_names: list[str],
        run_dir: Path,
        trainer: L.Trainer,
    ) -> dict[str, Any]:
        raise NotImplementedError


class SavePredictions(AfterFitAnalysis):
    """``predictions.npz``: every split's per-example probabilities and targets, so a
    comparison can resample test examples (``src.compare``)."""

    name = "predictions"
    tasks = (MultilabelTask, MulticlassTask)

    def analyse(self, predictions, label_names, run_dir, trainer) -> dict[str, Any]:
        one_class = isinstance(trainer.lightning_module.task, MulticlassTask)
        save_predictions(run_dir, predictions, label_names, one_class_per_row=one_class)
        return {}


class TuneThresholds(AfterFitAnalysis):
    """Per-label decision thresholds tuned on validation (``thresholds.json``), and both
    splits scored at the default threshold and at the tuned ones; a label with fewer than
    ``min_positives`` validation positives keeps the default. The macro- and micro-F1 at the
    tuned thresholds are also ``run_metrics``: the run adds them to its metrics.json."""

    name = "thresholds"
    RUN_METRICS: ClassVar[tuple[str, ...]] = TUNED_RUN_METRICS

    def __init__(
        self,
        enabled: bool = True,
        metric: str = "f1",
        default: float = 0.5,
        min_positives: int = 10,
    ) -> None:
        super().__init__(enabled)
        settings = OmegaConf.create(
            {"metric": metric, "default": default, "min_positives": min_positives}
        )
        checked = validated(settings, ThresholdsSchema, "callbacks.thresholds")
        self.metric, self.default = checked.metric, checked.default
        self.min_positives = checked.min_positives
        self.tuning: ThresholdTuning | None = None
        self.run_metrics: dict[str, float] = {}

    def analyse(self, predictions, label_names, run_dir, trainer) -> dict[str, Any]:
        self.run_metrics = {}
        analysis = analyse_thresholds(
            predictions, label_names, run_dir, self.metric, self.default, self.min_positives
        )
        self.tuning, self.run_metrics = analysis.tuning, analysis.run_metrics
        return analysis.result(trainer.ckpt_path)


@dataclass
class CalibrationSchema:
    """``callbacks.calibration``: reliability bins, and whether to fit temperatures."""

    bins: int = 15
    temperature_scaling: bool = True
    rules: ClassVar[dict[str, Rule]] = {"bins": at_least(1)}


store_schema("callbacks_calibration", CalibrationSchema)


class Calibration(AfterFitAnalysis):
    """Expected calibration error per label on validation and test; with temperature scaling,
    one temperature per label fitted on validation and the test ECE after scaling."""

    name = "calibration"

    def __init__(self, enabled: bool = True, bins: int = 15, temperature_scaling: bool = True):
        super().__init__(enabled)
        settings = OmegaConf.create({"bins": bins, "temperature_scaling": temperature_scaling})
        checked = validated(settings, CalibrationSchema, "callbacks.calibration")
        self.bins, self.temperature_scaling = checked.bins, checked.temperature_scaling
        self.scaled_test_probs: np.ndarray | None = None

    def analyse(self, predictions, label_names, run_dir, trainer) -> dict[str, Any]:
        summary, self.scaled_test_probs = analyse_calibration(
            predictions, label_names, self.bins, self.temperature_scaling
        )
        return {"calibration": summary}


class ConfusionMatrix(AfterFitAnalysis):
    """The test confusion matrix (counts and row-normalised PNG) and per-class scores."""

    name = "confusion_matrix"
    tasks = (MulticlassTask,)

    def __init__(self, enabled: bool = True, plot: bool = True) -> None:
        super().__init__(enabled)
        self.plot = plot

    def analyse(self, predictions, label_names, run_dir, trainer) -> dict[str, Any]:
        path = run_dir / PLOTS_DIR / f"{self.name}.png" if self.plot else None
        return analyse_confusion(predictions["test"], label_names, path, trainer.ckpt_path)


class DiagnosticPlots(AfterFitAnalysis):
    """Training curves, threshold sweeps, probability histograms, ROC and PR curves and
    reliability diagrams (``plots/*.png``), using the thresholds and calibration analyses that
    ran before it."""

    name = "plots"

    def __init__(self, enabled: bool = True, bins: int = 15) -> None:
        super().__init__(enabled)
        self.bins = bins

    def analyse(self, predictions, label_names, run_dir, trainer) -> dict[str, Any]:
        tuning = next((c.tuning for c in trainer.callbacks if isinstance(c, TuneThresholds)), None)
        scaled = next(
            (c.scaled_test_probs for c in trainer.callbacks if isinstance(c, Calibration)), None
        )
        history = next((c.as_dict() for c in trainer.callbacks if isinstance(c, MetricHistory)), {})
        plots = diagnostic_plots(
            run_dir / PLOTS_DIR, predictions, label_names, history, tuning, scaled, self.bins
        )
        return {"plots": plots}
