"""What a run records about its analyses: ``statistics.json`` and the Aim artifacts.

Both act at the very end of the predict run (``teardown``), after every analysis in
``src.callbacks.analyses`` has finished, and read the run folder the lifecycle wrote
(``run_info.json``, ``metrics.json``, ``config.yaml``), so they also work with a user's own
Trainer (what is missing is left out).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import yaml

from src.callbacks.analyses import after_fit_state
from src.callbacks.training import MetricHistory
from src.runs.folder import CONFIG_FILE, METRICS_FILE, RUN_INFO_FILE, STATISTICS_FILE, write_json
from src.tasks.output import DEFAULT_THRESHOLD
from src.tracking.logger import aim_loggers, set_scores


def _read(path: Path, parse: Any) -> Any:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _relative(path: Path, run_dir: Path) -> str:
    path, run_dir = Path(path).resolve(), run_dir.resolve()
    return str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)


def merged_results(trainer: L.Trainer) -> dict[str, Any]:
    """The analyses' results as one mapping; their ``plots`` entries merged."""
    merged: dict[str, Any] = {"plots": {}}
    for result in after_fit_state(trainer).results.values():
        for key, value in result.items():
            if key == "plots":
                merged["plots"].update(value)
            else:
                merged[key] = value
    return merged


class RunStatistics(L.Callback):
    """``statistics.json``: everything a run measured and everything needed to repeat it
    (seed, git commit, packages, data hashes, resolved config, metrics, history, thresholds,
    calibration, evaluation, plots), in one file."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "predict":
            self.write(trainer)

    def write(self, trainer: L.Trainer) -> None:
        """Write the file now (a run without after-fit predictions calls this itself)."""
        if not self.enabled or not trainer.is_global_zero:
            return
        run_dir = Path(trainer.default_root_dir)
        summary = _read(run_dir / METRICS_FILE, json.loads) or {}
        # Trainer.callbacks is set at run time; Lightning's stubs lack it
        history = next((c for c in trainer.callbacks if isinstance(c, MetricHistory)), None)  # type: ignore[attr-defined]
        results = merged_results(trainer)
        plots = {name: _relative(path, run_dir) for name, path in results.pop("plots").items()}
        payload = {
            **(_read(run_dir / RUN_INFO_FILE, json.loads) or {}),
            "config": _read(run_dir / CONFIG_FILE, yaml.safe_load) or {},
            "metrics": summary.get("metrics", {}),
            "training": {k: v for k, v in summary.items() if k != "metrics"},
            "history": history.as_dict() if history else {},
            **results,
        }
        if plots:
            payload["plots"] = plots
        write_json(run_dir / STATISTICS_FILE, payload)


#: scores the decision threshold leaves as they are: not tracked again at tuned thresholds
THRESHOLD_FREE = ("auc",)


def depends_on_threshold(name: str) -> bool:
    """``f1/toxic``, ``precision_macro``: yes; ``auc/toxic``, ``auc_macro``: no."""
    return name.split("/")[0].split("_")[0] not in THRESHOLD_FREE


class AimArtifacts(L.Callback):
    """The analyses in Aim: thresholds, temperatures and the confusion matrix as run params,
    every plot as an image, and each score once as a param under ``scores`` (``score_key``),
    beside what training logged for the same checkpoint (scheme: ``docs/tracking.md``):

    - at the default threshold, only what the final validate/test did not log (precision and
      recall; their F1 and AUC are the run's ``metrics.json``), in their context
      ``{subset, checkpoint}``; a default other than the 0.5 training scores at gets
      ``thresholds: <default>``;
    - at the tuned thresholds, the threshold-dependent scores (precision, recall, F1; not AUC)
      with ``thresholds: tuned``;
    - ECE in the same context, after temperature scaling with ``calibration: temperature``.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not self.enabled or stage != "predict" or not trainer.is_global_zero:
            return
        results = merged_results(trainer)
        if len(results) == 1 and not results["plots"]:  # no analysis ran
            return
        summary = _read(Path(trainer.default_root_dir) / METRICS_FILE, json.loads) or {}
        logged = set(summary.get("metrics", {}))
        for logger in aim_loggers(trainer.loggers):
            self.track(logger.experiment, results, logger.score_context, logged)

    @staticmethod
    def track(
        run: Any,
        results: dict[str, Any],
        context: dict[str, str] | None = None,
        logged: Collection[str] = (),
    ) -> None:
        """Log merged analysis results (see ``merged_results``) to one Aim run. ``context``:
        what every score gets (``{checkpoint: best}``); ``logged``: the ``<split>/<name>``
        scores training logged for this checkpoint, not tracked again."""
        context = dict(context or {})
        if "thresholds" in results:
            run["thresholds"] = results["thresholds"]
        evaluation = results.get("evaluation", {})
        if "confusion_matrix" in evaluation:
            run["confusion_matrix"] = {
                "labels": evaluation["labels"],
                "counts": evaluation["confusion_matrix"],
            }
        threshold = (results.get("thresholds") or {}).get("default", DEFAULT_THRESHOLD)
        for split in ("val", "test"):
            scores = evaluation.get(split)
            if not isinstance(scores, dict):
                continue
            at = {**context, "subset": split}
            if not any(isinstance(value, dict) for value in scores.values()):
                scores = {"default": scores}  # one set of scores (multi-class)
            dependent = {
                name: {k: v for k, v in (scores.get(name) or {}).items() if depends_on_threshold(k)}
                for name in ("default", "tuned")
            }
            if threshold == DEFAULT_THRESHOLD:
                default = scores.get("default") or {}
                new = {k: v for k, v in default.items() if f"{split}/{k}" not in logged}
                set_scores(run, new, at)
            else:
                set_scores(run, dependent["default"], {**at, "thresholds": f"{threshold:g}"})
            set_scores(run, dependent["tuned"], {**at, "thresholds": "tuned"})
        calibration = results.get("calibration", {})
        if "temperatures" in calibration:
            run["temperatures"] = calibration["temperatures"]
        for key, split, scaling in (
            ("ece_val", "val", {}),
            ("ece_test", "test", {}),
            ("ece_test_scaled", "test", {"calibration": "temperature"}),
        ):
            if key in calibration:
                ece = {f"ece/{label}": v for label, v in calibration[key].items()}
                set_scores(run, ece, {**context, "subset": split, **scaling})
        plots = results.get("plots", {})
        if not plots:
            return
        from PIL import Image as PILImage

        from aim import Image

        for name, path in plots.items():
            with PILImage.open(path) as image:
                image.load()
                picture = Image(image.copy(), caption=name)
            run.track(picture, name=name, context={"kind": "plot"})
