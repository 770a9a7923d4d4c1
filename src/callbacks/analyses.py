"""After-fit analyses of a model's predictions on the validation and test splits.

They run in ``trainer.predict``: the training run calls it on the best checkpoint after its
final test, and the DataModule's ``predict_dataloader`` yields the validation then the test
split (``predict_splits``). Lightning's own predict loop produces the logits (with the run's
precision and device); each analysis reads them in ``on_predict_end`` and writes its files
into the run folder (``trainer.default_root_dir``). Each applies to the tasks it names and
quietly skips the others; later analyses can use earlier ones' results (the plots use the
tuned thresholds and the calibrated probabilities), so keep them in this order in config.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as L
import numpy as np
import torch
import torch.distributed as dist
from omegaconf import OmegaConf
from sklearn.metrics import confusion_matrix

from src.callbacks.training import MetricHistory
from src.config import Rule, ThresholdsSchema, at_least, store_schema, validated
from src.metrics.calibration import apply_temperatures, fit_temperatures, per_label_ece
from src.metrics.multiclass import multiclass_scores
from src.metrics.multilabel import Threshold, scores_at_thresholds
from src.metrics.thresholds import ThresholdTuning, tune_thresholds
from src.plots import plot_confusion_matrix, write_run_plots
from src.runs.files import write_json
from src.tasks.base import Task
from src.tasks.multiclass import MulticlassTask, class_ids
from src.tasks.multilabel import THRESHOLDS_FILE, MultilabelTask

log = logging.getLogger(__name__)
PLOTS_DIR = "plots"


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


def stack_predictions(batches: list[dict[str, Any]], task: Task) -> SplitPredictions | None:
    """One split's ``predict_step`` outputs as arrays; None for ragged token logits or
    batches without labels."""
    if not batches or "labels" not in batches[0] or batches[0]["logits"].ndim != 2:
        return None
    logits = torch.cat([b["logits"].cpu() for b in batches]).float()
    targets = torch.cat([b["labels"].cpu() for b in batches])
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
        precision=precision,
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def predict_split(
    model: L.LightningModule, dataloader: Any, accelerator: str | None, precision: Any
) -> SplitPredictions | None:
    """A model's predictions over one loader through Lightning's predict loop."""
    batches = inference_trainer(accelerator, precision).predict(model, dataloaders=dataloader)
    return stack_predictions(batches or [], model.task)


def split_predictions(trainer: L.Trainer, task: Task) -> dict[str, SplitPredictions] | None:
    """The predict loop's outputs as ``{split: SplitPredictions}`` (computed once per run);
    None when the DataModule does not predict named splits with labels."""
    state = after_fit_state(trainer)
    if state.predictions is not None:
        return state.predictions
    splits = getattr(trainer.datamodule, "predict_splits", None)
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
        task = getattr(pl_module, "task", None)
        if not self.applies_to(task):
            return
        predictions = split_predictions(trainer, task)  # every rank: it gathers under DDP
        if predictions is None or not trainer.is_global_zero:
            return
        state = after_fit_state(trainer)
        run_dir = Path(trainer.default_root_dir)
        result = self.analyse(predictions, list(pl_module.label_names), run_dir, trainer, state)
        state.results[self.name] = result

    def analyse(
        self,
        predictions: dict[str, SplitPredictions],
        label_names: list[str],
        run_dir: Path,
        trainer: L.Trainer,
        state: AfterFit,
    ) -> dict[str, Any]:
        raise NotImplementedError


class TuneThresholds(AfterFitAnalysis):
    """Per-label decision thresholds tuned on validation (``thresholds.json``), and both
    splits scored at the default threshold and at the tuned ones. The macro- and micro-F1 at
    the tuned thresholds (``val/tuned/f1_macro``, ``test/tuned/...``) are also ``run_metrics``:
    the run adds them to its metrics.json."""

    name = "thresholds"
    #: the scores at tuned thresholds a run adds to its metrics
    RUN_METRICS: ClassVar[tuple[str, ...]] = ("f1_macro", "f1_micro")

    def __init__(self, enabled: bool = True, metric: str = "f1", default: float = 0.5) -> None:
        super().__init__(enabled)
        settings = OmegaConf.create({"metric": metric, "default": default})
        checked = validated(settings, ThresholdsSchema, "callbacks.thresholds")
        self.metric, self.default = checked.metric, checked.default
        self.tuning: ThresholdTuning | None = None
        self.run_metrics: dict[str, float] = {}

    def analyse(self, predictions, label_names, run_dir, trainer, state) -> dict[str, Any]:
        self.run_metrics = {}
        val = predictions["val"]
        tuning = tune_thresholds(val.probs, val.targets, label_names, self.metric, self.default)
        write_json(run_dir / THRESHOLDS_FILE, tuning.to_json())
        self.tuning = tuning
        evaluation = {
            split: evaluate_predictions(preds, label_names, tuning.thresholds, self.default)
            for split, preds in predictions.items()
        }
        self.run_metrics = {
            f"{split}/tuned/{key}": float(scores["tuned"][key])
            for split, scores in evaluation.items()
            for key in self.RUN_METRICS
        }
        test = evaluation.get("test", {})
        if test:
            log.info(
                "test macro-F1 at %.2f: %.4f, at tuned thresholds: %.4f",
                self.default,
                test["default"]["f1_macro"],
                test["tuned"]["f1_macro"],
            )
        return {
            "thresholds": tuning.to_json(),
            "evaluation": {"checkpoint": trainer.ckpt_path, **evaluation},
        }


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

    def analyse(self, predictions, label_names, run_dir, trainer, state) -> dict[str, Any]:
        val, test = predictions["val"], predictions["test"]
        summary: dict[str, Any] = {
            "n_bins": self.bins,
            "ece_val": per_label_ece(val.probs, val.targets, label_names, self.bins),
            "ece_test": per_label_ece(test.probs, test.targets, label_names, self.bins),
        }
        self.scaled_test_probs = None
        if self.temperature_scaling:
            temperatures = fit_temperatures(val.logits, val.targets)
            self.scaled_test_probs = apply_temperatures(test.logits, temperatures)
            summary["temperatures"] = dict(zip(label_names, temperatures.tolist(), strict=True))
            summary["ece_test_scaled"] = per_label_ece(
                self.scaled_test_probs, test.targets, label_names, self.bins
            )
        return {"calibration": summary}


class ConfusionMatrix(AfterFitAnalysis):
    """The test confusion matrix (counts and row-normalised PNG) and per-class scores."""

    name = "confusion_matrix"
    tasks = (MulticlassTask,)

    def __init__(self, enabled: bool = True, plot: bool = True) -> None:
        super().__init__(enabled)
        self.plot = plot

    def analyse(self, predictions, label_names, run_dir, trainer, state) -> dict[str, Any]:
        test = predictions["test"]
        targets = class_ids(test.targets)
        scores = multiclass_scores(test.probs, targets, label_names)
        counts = confusion_matrix(
            targets, test.probs.argmax(axis=1), labels=range(len(label_names))
        )
        plots = {}
        if self.plot:
            path = run_dir / PLOTS_DIR / f"{self.name}.png"
            plots[self.name] = plot_confusion_matrix(counts, label_names, path)
        log.info("test accuracy %.4f, macro-F1 %.4f", scores["accuracy"], scores["f1_macro"])
        return {
            "evaluation": {
                "checkpoint": trainer.ckpt_path,
                "labels": label_names,
                "test": scores,
                "confusion_matrix": counts.tolist(),
            },
            "plots": plots,
        }


class DiagnosticPlots(AfterFitAnalysis):
    """Training curves, threshold sweeps, probability histograms, ROC and PR curves and
    reliability diagrams (``plots/*.png``), using the thresholds and calibration analyses that
    ran before it."""

    name = "plots"

    def __init__(self, enabled: bool = True, bins: int = 15) -> None:
        super().__init__(enabled)
        self.bins = bins

    def analyse(self, predictions, label_names, run_dir, trainer, state) -> dict[str, Any]:
        val, test = predictions["val"], predictions["test"]
        tuning = next((c.tuning for c in trainer.callbacks if isinstance(c, TuneThresholds)), None)
        if tuning is None:
            tuning = tune_thresholds(val.probs, val.targets, label_names)
        scaled = next(
            (c.scaled_test_probs for c in trainer.callbacks if isinstance(c, Calibration)), None
        )
        history = next((c.as_dict() for c in trainer.callbacks if isinstance(c, MetricHistory)), {})
        plots = write_run_plots(
            run_dir / PLOTS_DIR, history, val, test, label_names, tuning, scaled, self.bins
        )
        return {"plots": plots}
