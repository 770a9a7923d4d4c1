"""The results CSV (``logs/<task_name>/results.csv``): one row per run, success or failure,
appended under a lock so parallel sweep jobs never interleave their rows."""

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

from src.errors import shorten
from src.runs.folder import json_clean

log = logging.getLogger(__name__)

#: metric-name prefixes of base-vs-tuned: the untrained head and the fine-tuned gain
BASE = "base/"


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Tensors and NaN made JSON-friendly (NaN -> null), sorted by name."""
    return {key: json_clean(value) for key, value in sorted(metrics.items())}


def headline_keys(metrics: dict[str, Any], split: str = "test") -> list[str]:
    """The aggregate metrics of a split (``test/f1_macro``), not per label and not the loss."""
    prefix = f"{split}/"
    return sorted(
        key
        for key in metrics
        if key.startswith(prefix) and "/" not in key[len(prefix) :] and key != f"{split}/loss"
    )


# -- the results table ------------------------------------------------------------------------
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


def config_value(cfg: DictConfig, dotted: str) -> Any:
    """``cfg`` at a dotted key, or None when absent or unresolvable here."""
    node: Any = cfg
    for part in dotted.split("."):
        try:
            node = node.get(part) if hasattr(node, "get") else None
        except Exception:  # noqa: BLE001  (an interpolation that cannot resolve here)
            return None
        if node is None:
            return None
    return node


def group_choice(group: str) -> str | None:
    """The config-group option this job used (``data=emotion`` -> ``emotion``), under Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        try:
            return HydraConfig.get().runtime.choices.get(group)
        except (AttributeError, ValueError):  # a config composed without Hydra's own node
            return None
    return None


def task_name_of(cfg: DictConfig) -> str | None:
    """The data set's task (``multilabel``...) from its ``data.task`` node."""
    task = config_value(cfg, "data.task")
    target = config_value(task, "_target_") if isinstance(task, DictConfig) else None
    if target:
        return str(target).rsplit(".", 1)[-1].removesuffix("Task").lower()
    return None if task is None else str(task)


def config_summary(cfg: DictConfig) -> dict[str, Any]:
    """The settings that tell runs of one sweep apart."""
    target = str(config_value(cfg, "model._target_") or "")
    data_dir = config_value(cfg, "data.data_dir")
    return {
        "task_name": config_value(cfg, "task_name"),
        "task": task_name_of(cfg),
        "data": group_choice("data") or (Path(str(data_dir)).name if data_dir else None),
        "backbone": config_value(cfg, "backbone.name"),
        "model": group_choice("model") or target.rsplit(".", 1)[-1],
        "pooling": config_value(cfg, "model.pooling"),
        "lr": config_value(cfg, "model.optimizer.lr"),
        "max_epochs": config_value(cfg, "trainer.max_epochs"),
        "seed": config_value(cfg, "seed"),
        "max_length": config_value(cfg, "data.max_length"),
        "objective": config_value(cfg, "objective"),
    }


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _json_cell(values: dict[str, Any]) -> str:
    return json.dumps({k: _finite(v) for k, v in sorted(values.items())}, sort_keys=True)


def result_row(
    cfg: DictConfig,
    summary: dict[str, Any] | None = None,
    error: BaseException | str | None = None,
) -> dict[str, Any]:
    """The CSV row of a finished run (``summary``) or of a failed one (``error``)."""
    summary = summary or {}
    metrics = summary.get("metrics", {}) or {}
    message = "" if error is None else shorten(str(error), 500)
    if isinstance(error, BaseException) and type(error).__name__ != "TextlabError":
        message = f"{type(error).__name__}: {message}"
    objective = config_value(cfg, "objective")
    base = {k[len(BASE) :]: v for k, v in metrics.items() if k.startswith(BASE)}
    row = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "failed" if error is not None else summary.get("status", "success"),
        "error": message[:500],
        "run_dir": config_value(cfg, "paths.output_dir"),
        **config_summary(cfg),
        "epochs_trained": summary.get("epochs_trained"),
        "val_objective": _finite(metrics.get(objective)) if objective else None,
        "test_metrics": _json_cell({k: metrics[k] for k in headline_keys(metrics)}),
        "base_test_metrics": _json_cell({k: base[k] for k in headline_keys(base)}),
        "improvement": _json_cell(
            {k[len(IMPROVEMENT) :]: v for k, v in metrics.items() if k.startswith(IMPROVEMENT)}
        ),
        "wall_time_s": summary.get("wall_time_s"),
    }
    return {column: row.get(column) for column in COLUMNS}


#: the most bytes read of a results file's first line (its header)
HEADER_BYTES = 1 << 16
#: fresh files tried beside a damaged results file: results.1.csv ... results.9.csv
SPARE_FILES = 9


def _append_row(path: Path, row: dict[str, Any]) -> str | None:
    """Append ``row`` to ``path`` (header first if the file is new) under an exclusive lock;
    None when written, else why ``path`` cannot take it (damaged, another header, not a
    file). Only the first line is read: the rest of the file may be anything."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    header = ",".join(COLUMNS)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return "is not a plain file"
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            end = handle.seek(0, io.SEEK_END)
            if end == 0:
                writer.writeheader()
            else:
                handle.seek(0)
                first = handle.readline(HEADER_BYTES)
                if first.rstrip(b"\r\n") != header.encode():
                    damaged = b"\0" in first or not first.endswith(b"\n")
                    try:
                        first.decode("utf-8")
                    except UnicodeDecodeError:
                        damaged = True
                    return "is damaged" if damaged else "has another header (another version?)"
                handle.seek(end - 1)
                if handle.read(1) != b"\n":  # a row cut short: ours starts on a line of its own
                    buffer.write("\n")
            writer.writerow(row)
            handle.seek(0, io.SEEK_END)
            handle.write(buffer.getvalue().encode("utf-8"))
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def append_result(path: str | Path, row: dict[str, Any]) -> Path:
    """Append ``row`` to the results file ``path``. A damaged one (binary, cut, another header,
    a folder) is left as it is and the row goes to the first of ``results.1.csv`` ...
    ``results.9.csv`` beside it that takes it, with one warning line; returns the file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spares = [path.with_name(f"{path.stem}.{n}{path.suffix}") for n in range(1, SPARE_FILES + 1)]
    problem = _append_row(path, row)
    if problem is None:
        return path
    for spare in spares:
        if _append_row(spare, row) is None:
            log.warning(
                "%s %s; left as it is, this run's row went to %s (repair or remove the file)",
                path,
                problem,
                spare,
            )
            return spare
    raise OSError(f"{path} {problem}, and so are {spares[0].name} ... {spares[-1].name}")


def record_result(
    cfg: DictConfig,
    summary: dict[str, Any] | None = None,
    error: BaseException | str | None = None,
) -> Path | None:
    """Append the run's row to ``cfg.results_file`` (null: off). Never raises: a results file
    that cannot be written or read costs a warning, not the run."""
    target = config_value(cfg, "results_file")
    if not target:
        return None
    try:
        return append_result(target, result_row(cfg, summary, error))
    except Exception as err:  # noqa: BLE001  (the run's own record is written; this is a copy)
        log.warning("cannot append to results file %s: %s", target, shorten(str(err), 300))
        return None


IMPROVEMENT = "improvement/"
