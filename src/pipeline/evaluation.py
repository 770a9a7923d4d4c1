"""Scores of a checkpoint at 0.5 and at its tuned thresholds: shared by training and src.eval.

Both the end of ``python -m src.train`` and ``python -m src.eval`` call
:func:`evaluate_predictions` on predictions from :func:`src.pipeline.predictions.predict_logits`,
so they report the same numbers for the same checkpoint (tested to 1e-6).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from src.metrics.calibration import per_label_ece
from src.metrics.threshold_report import scores_at_thresholds
from src.pipeline.load_run import load_run
from src.pipeline.predictions import SplitPredictions, predict_logits
from src.utils.errors import TextlabError
from src.utils.instantiate import build_datamodule

THRESHOLDS_FILE = "thresholds.json"
SPLITS = ("val", "test")


def evaluate_predictions(
    predictions: SplitPredictions,
    label_names: list[str],
    tuned: dict[str, float] | None = None,
    default: float = 0.5,
) -> dict[str, dict[str, float]]:
    """``{"default": scores at `default`, "tuned": scores at the per-label thresholds}``.

    Each score set holds precision/recall/F1 per label and macro/micro, AUC per label and macro
    (:func:`src.metrics.threshold_report.scores_at_thresholds`).
    """
    probs, targets = predictions.probs, predictions.targets
    result = {"default": scores_at_thresholds(probs, targets, label_names, default)}
    if tuned is not None:
        per_label = [tuned[name] for name in label_names]
        result["tuned"] = scores_at_thresholds(probs, targets, label_names, per_label)
    return result


def read_thresholds(run_dir: str | Path, label_names: list[str]) -> dict[str, float]:
    """``label -> threshold`` from ``<run>/thresholds.json``, checked against the labels."""
    path = Path(run_dir) / THRESHOLDS_FILE
    if not path.is_file():
        raise TextlabError(
            f"{path} not found: this run has no tuned thresholds (trained with "
            "evaluation.enabled=false, or before they existed); use thresholds=0.5"
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


def parse_threshold_option(value: Any) -> float | None:
    """``tuned`` -> None (read thresholds.json); a number in [0, 1] -> that threshold."""
    if isinstance(value, str) and value.strip().lower() == "tuned":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise TextlabError(f"thresholds must be 'tuned' or a number in [0, 1], got {value!r}")
    return number


def evaluate_checkpoint(
    ckpt_path: str | Path,
    thresholds: Any = "tuned",
    split: str = "test",
    default: float = 0.5,
    ece_bins: int = 15,
) -> dict[str, Any]:
    """Rebuild a run's model and data from its folder and score one split (``src.eval``)."""
    if split not in SPLITS:
        raise TextlabError(f"split must be one of {list(SPLITS)}, got {split!r}")
    fixed = parse_threshold_option(thresholds)
    run = load_run(ckpt_path)
    task = getattr(run.model, "task", "multilabel")
    if task != "multilabel":
        raise TextlabError(
            f"src.eval scores multi-label runs; {ckpt_path} is a {task} run: its test scores are "
            f"in {run.run_dir / 'metrics.json'} (predict with python -m src.predict)"
        )
    label_names = list(run.model.label_names)
    tuned = read_thresholds(run.run_dir, label_names) if fixed is None else None
    datamodule = build_datamodule(run.cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit" if split == "val" else "test")
    loader = datamodule.val_dataloader() if split == "val" else datamodule.test_dataloader()
    trainer_cfg = run.cfg.get("trainer", {})
    predictions = predict_logits(
        run.model, loader, trainer_cfg.get("precision"), trainer_cfg.get("accelerator")
    )
    return {
        "checkpoint": str(ckpt_path),
        "split": split,
        "rows": len(predictions.targets),
        "thresholds": tuned if tuned is not None else dict.fromkeys(label_names, fixed),
        "default_threshold": default if fixed is None else fixed,
        "scores": evaluate_predictions(
            predictions, label_names, tuned, default if fixed is None else fixed
        ),
        "ece": per_label_ece(predictions.probs, predictions.targets, label_names, ece_bins),
    }
