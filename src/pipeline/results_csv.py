"""One row per run (success or failure) appended to a shared results CSV.

So a sweep over backbones, poolings or seeds leaves one table, even when a job crashes.
The header is fixed (:data:`COLUMNS`): the config summary in plain columns, and the metrics,
whose names differ between tasks, as JSON objects in ``test_metrics`` / ``base_test_metrics`` /
``improvement``. Parallel jobs (joblib launcher) append under an exclusive ``fcntl.flock`` on
the file, and each row is written with one ``write`` call, so rows never interleave.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from src.pipeline.base_vs_tuned import BASE, IMPROVEMENT, headline_keys

log = logging.getLogger(__name__)

COLUMNS = [
    "timestamp",
    "status",
    "error",
    "run_dir",
    "task_name",
    "task",
    "data",
    "backbone",
    "model",
    "pooling",
    "lr",
    "max_epochs",
    "epochs_trained",
    "seed",
    "max_length",
    "objective",
    "val_objective",
    "test_metrics",
    "base_test_metrics",
    "improvement",
    "wall_time_s",
]


def _choice(cfg: DictConfig, group: str) -> str | None:
    """The config-group option a run used (``data=emotion`` -> ``emotion``), when Hydra ran it."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        try:
            return HydraConfig.get().runtime.choices.get(group)
        except (AttributeError, ValueError):  # a config composed without Hydra's own node
            return None
    return None


def _get(cfg: DictConfig, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        try:
            node = node.get(part) if hasattr(node, "get") else None
        except Exception:  # noqa: BLE001  (an interpolation that cannot resolve here)
            return None
        if node is None:
            return None
    return node


def config_summary(cfg: DictConfig) -> dict[str, Any]:
    """The settings that tell runs of one sweep apart."""
    target = str(_get(cfg, "model._target_") or "")
    data_dir = _get(cfg, "data.data_dir")
    return {
        "task_name": _get(cfg, "task_name"),
        "task": _get(cfg, "data.task"),
        "data": _choice(cfg, "data") or (Path(str(data_dir)).name if data_dir else None),
        "backbone": _get(cfg, "backbone.name"),
        "model": _choice(cfg, "model") or target.rsplit(".", 1)[-1],
        "pooling": _get(cfg, "model.pooling"),
        "lr": _get(cfg, "model.optimizer.lr"),
        "max_epochs": _get(cfg, "trainer.max_epochs"),
        "seed": _get(cfg, "seed"),
        "max_length": _get(cfg, "data.max_length"),
        "objective": _get(cfg, "objective"),
    }


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _json(values: dict[str, Any]) -> str:
    return json.dumps({k: _finite(v) for k, v in sorted(values.items())}, sort_keys=True)


def result_row(
    cfg: DictConfig,
    summary: dict[str, Any] | None = None,
    error: BaseException | str | None = None,
) -> dict[str, Any]:
    """The CSV row of a finished run (``summary``) or of a failed one (``error``)."""
    summary = summary or {}
    metrics = summary.get("metrics", {}) or {}
    message = "" if error is None else " ".join(str(error).split())
    if isinstance(error, BaseException) and type(error).__name__ != "TextlabError":
        message = f"{type(error).__name__}: {message}"
    objective = _get(cfg, "objective")
    base = {k[len(BASE) :]: v for k, v in metrics.items() if k.startswith(BASE)}
    row = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "failed" if error is not None else summary.get("status", "success"),
        "error": message[:500],
        "run_dir": _get(cfg, "paths.output_dir"),
        **config_summary(cfg),
        "epochs_trained": summary.get("epochs_trained"),
        "val_objective": _finite(metrics.get(objective)) if objective else None,
        "test_metrics": _json({k: metrics[k] for k in headline_keys(metrics)}),
        "base_test_metrics": _json({k: base[k] for k in headline_keys(base)}),
        "improvement": _json(
            {k[len(IMPROVEMENT) :]: v for k, v in metrics.items() if k.startswith(IMPROVEMENT)}
        ),
        "wall_time_s": summary.get("wall_time_s"),
    }
    return {column: row.get(column) for column in COLUMNS}


def append_result(path: str | Path, row: dict[str, Any]) -> Path:
    """Append ``row`` (header first if the file is new), holding an exclusive lock."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    with path.open("a+", newline="", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0, io.SEEK_END)
            if handle.tell() == 0:
                writer.writeheader()
            else:
                handle.seek(0)
                header = handle.readline().rstrip("\r\n")
                handle.seek(0, io.SEEK_END)
                if header != ",".join(COLUMNS):
                    log.warning("%s has another header; not appending this run's row", path)
                    return path
            writer.writerow(row)
            handle.write(buffer.getvalue())
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return path


def record_result(
    cfg: DictConfig,
    summary: dict[str, Any] | None = None,
    error: BaseException | str | None = None,
) -> Path | None:
    """Append the run's row to ``cfg.results_file`` (null: off). Never raises: a results file
    that cannot be written costs a warning, not the run."""
    target = _get(cfg, "results_file")
    if not target:
        return None
    try:
        return append_result(target, result_row(cfg, summary, error))
    except OSError as err:
        log.warning("cannot append to results file %s: %s", target, err)
        return None
