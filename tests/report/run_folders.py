"""Synthetic multirun folders for the comparison tests: one job per (pooling, seed) with the
files a training run leaves (overrides, resolved config, metrics.json, predictions.npz)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from src.report.resampled_metrics import MULTILABEL

LABELS = ["toxic", "threat"]
MODEL = {"cls": "cls_pooler", "mean": "mean_pooler", "max": "max_pooler"}


def make_job(
    sweep: Path,
    n: int,
    pooling: str,
    seed: int,
    metrics: dict[str, float] | None,
    status: str = "success",
    predictions: dict[str, np.ndarray] | None = None,
    primary: str | None = "test/auc_macro",
) -> Path:
    job = sweep / str(n)
    (job / ".hydra").mkdir(parents=True)
    overrides = [f"model={MODEL[pooling]}", "experiment=toy", f"seed={seed}"]
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    data = {"objective": "val/auc_macro", **({"primary_metric": primary} if primary else {})}
    config = {"model": {"pooling": pooling}, "data": data}
    (job / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"status": status, "metrics": metrics or {}}
    (job / "metrics.json").write_text(json.dumps(summary))
    if predictions is not None:
        np.savez(job / "predictions.npz", labels=np.array(LABELS), **predictions)
    return job


def test_split(rows: int, rng: np.random.Generator) -> np.ndarray:
    """[rows, 2] multi-label targets with a rare second label and a few unscored cells."""
    targets = np.stack([rng.random(rows) < 0.4, rng.random(rows) < 0.15], axis=1).astype(np.int8)
    targets[0, 1], targets[1, 1] = 1, 0  # both classes in every label
    targets[2, 0] = -1
    return targets


def scored(probs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """The run's test metrics as metrics.json holds them (the project's definitions)."""
    ones = np.ones((1, len(targets)))
    return {name: float(f(probs, targets, ones)[0]) for name, f in MULTILABEL.items()}


def prediction_sweep(
    folder: Path,
    seeds: list[int],
    poolings: tuple[str, ...] = ("cls", "mean", "max"),
    rows: int = 30,
    seed_noise: float = 0.002,
    with_predictions: bool = True,
) -> Path:
    """A sweep whose poolings differ by a fixed pattern on a tiny, noisy test set and barely
    by seed: the seed-to-seed spread is small, the test-set sampling noise large."""
    rng = np.random.default_rng(0)
    targets = test_split(rows, rng)
    base = {p: rng.random((rows, 2)) * 0.6 + 0.4 * targets for p in poolings}
    n = 0
    for seed in seeds:
        for pooling in poolings:
            noise = seed_noise * np.random.default_rng(100 * seed + n).standard_normal((rows, 2))
            probs = np.clip(base[pooling] + noise, 0, 1).astype(np.float32)
            preds = {"test_probs": probs, "test_targets": targets}
            preds |= {"val_probs": probs, "val_targets": targets}
            make_job(
                folder,
                n,
                pooling,
                seed,
                scored(probs, targets),
                predictions=preds if with_predictions else None,
            )
            n += 1
    return folder
