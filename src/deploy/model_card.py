"""The model card every export carries (``README.md`` in the export folder): how to load it,
the data, the test metrics with bootstrap intervals, the thresholds and how they were chosen,
intended use and limitations.

One run has no seed interval, so the intervals are over the test rows: a percentile bootstrap
of the run's own test predictions (``predictions.npz``), recomputed with the project's metric
definitions (``src.report.resampled_metrics``). They say how much the score would move on
another test sample of the same size, not how much another seed would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from src.evaluation.predictions import load_predictions
from src.report.resampled_metrics import resample_weights, resampled_metric
from src.runs.folder import METRICS_FILE, atomic_write_text

CARD_FILE = "README.md"
RESAMPLES = 1000
LEVEL = 0.95
#: the test metrics a card reports, where the run has them
CARD_METRICS = ("auc_macro", "f1_macro", "f1_micro", "accuracy", "f1_weighted", "f1")


def bootstrap_intervals(
    run_dir: Path, metrics: list[str], resamples: int = RESAMPLES, seed: int = 0
) -> tuple[dict[str, tuple[float, float]], int]:
    """``{metric: (low, high)}``: 95% percentile bootstrap intervals over the run's test rows,
    and the number of rows; empty without ``predictions.npz``."""
    arrays = load_predictions(run_dir)
    if not arrays or "test_probs" not in arrays:
        return {}, 0
    probs, targets = arrays["test_probs"], arrays["test_targets"]
    weights = resample_weights(len(probs), resamples, np.random.default_rng(seed))
    found = {}
    for name in metrics:
        function = resampled_metric(name, targets)
        if function is None:
            continue
        values = function(probs, targets, weights)
        low, high = np.nanquantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        found[name] = (float(low), float(high))
    return found, len(probs)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _metrics_table(run_dir: Path) -> list[str]:
    scores = _read(run_dir / METRICS_FILE).get("metrics", {})
    names = [n for n in CARD_METRICS if f"test/{n}" in scores or f"val/{n}" in scores]
    intervals, rows = bootstrap_intervals(run_dir, [f"test/{n}" for n in names])
    if not names:
        return ["The run folder holds no test metrics."]
    lines = [
        f"| metric | validation | test | test, {LEVEL:.0%} bootstrap interval |",
        "|---|---|---|---|",
    ]
    for name in names:
        cells = [scores.get(f"{stage}/{name}") for stage in ("val", "test")]
        shown = [f"{v:.4f}" if isinstance(v, int | float) else "-" for v in cells]
        low_high = intervals.get(f"test/{name}")
        interval = f"{low_high[0]:.4f} to {low_high[1]:.4f}" if low_high else "-"
        lines.append(f"| {name} | {shown[0]} | {shown[1]} | {interval} |")
    tuned = scores.get("test/tuned/f1_macro")
    if isinstance(tuned, int | float):
        lines.append(f"| f1_macro at the tuned thresholds | - | {tuned:.4f} | - |")
    lines += [
        "",
        f"Intervals: {RESAMPLES} bootstrap resamples of the {rows} test rows of this run's "
        "predictions (seed 0); F1 at a 0.5 threshold. One run has no seed interval: another "
        "seed can move the scores more than these intervals say."
        if intervals
        else "No bootstrap interval: the run folder has no predictions.npz.",
    ]
    return lines


def _thresholds_section(run_dir: Path, config: dict[str, Any]) -> list[str]:
    if config.get("thresholds_source") is None:
        return ["No thresholds: the predicted class is the most probable one."]
    record = _read(run_dir / "thresholds.json")
    values = record.get("thresholds", {})
    if not values:
        return [
            "`thresholds.json` holds 0.5 for every label: the run tuned none (it has no "
            "thresholds.json)."
        ]
    kept = record.get("kept_default", {})
    lines = [
        f"Per-label thresholds in `thresholds.json`, tuned on the validation rows to maximise "
        f"{record.get('metric', '?')}; a label with fewer than {record.get('min_positives', '?')} "
        f"positive validation rows keeps the default {record.get('default', 0.5)}. A label is "
        "predicted when its probability is at least its threshold.",
        "",
        "| label | threshold | how chosen |",
        "|---|---|---|",
    ]
    for label, value in values.items():
        how = f"kept the default: {kept[label]}" if label in kept else "tuned on validation"
        lines.append(f"| {label} | {float(value):.3f} | {how} |")
    return lines


def model_card(run_dir: Path, cfg: Any, config: dict[str, Any], load_with: str) -> str:
    """The card's Markdown."""
    data = cfg.get("data", {})
    labels = ", ".join(config.get("label_names", []))
    data_dir = Path(str(data.get("data_dir", "?"))).name
    rows = {k: data.get(k) for k in ("max_train_rows", "max_val_rows", "max_test_rows")}
    limits = ", ".join(f"{k}={v}" for k, v in rows.items() if v is not None) or "all rows"
    lines = [
        f"# {config.get('task_name')} classifier: {config.get('backbone')}, "
        f"{config.get('pooling') or 'tagger'} pooling",
        "",
        "Exported by textlab (`python -m src.export`) from the run "
        f"`{run_dir.name}`. Format: `{config.get('format')}`.",
        "",
        "## How to load",
        "",
        f"Load with {load_with}. Texts are truncated to {config.get('max_length')} tokens, as in "
        "training (`tokenizer.json`).",
        "",
        "## Data",
        "",
        f"Data set `{data_dir}` ({str(data.get('_target_', '?')).rsplit('.', 1)[-1]}), "
        f"{limits}; labels: {labels}. The run's `run_info.json` holds the data files' sha256.",
        "",
        "## Metrics (test rows of this run)",
        "",
        *_metrics_table(run_dir),
        "",
        "## Thresholds",
        "",
        *_thresholds_section(run_dir, config),
        "",
        "## Intended use and limitations",
        "",
        "For research on text classification and as a starting point for moderation tools "
        "that a person reviews; not for decisions about people without review. It learned "
        f"from the rows above only ({data_dir}), in English, and inherits their label noise "
        "and biases (e.g. identity terms that co-occur with toxic labels). Scores on other "
        "text sources, languages or time periods are not measured; labels with few positive "
        "training rows are unreliable (see the thresholds above). Probabilities are not "
        "calibrated unless the run says so (its `statistics.json`).",
        "",
    ]
    return "\n".join(lines)


def write_model_card(out_dir: Path, run: Any, config: dict[str, Any], load_with: str) -> Path:
    """``out_dir/README.md`` for the export of ``run`` (a ``LoadedRun``)."""
    text = model_card(Path(run.run_dir), run.cfg, config, load_with)
    return atomic_write_text(out_dir / CARD_FILE, text)
