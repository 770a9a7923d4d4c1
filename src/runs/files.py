"""The files of a run folder: resolved config, run_info.json, metrics.json, the results row.

JSON files are written atomically (temporary file + rename), so an interrupted run never leaves
half a file; the results CSV gets one row per run (success or failure), appended under a lock
so parallel sweep jobs never interleave their rows.

``metrics.json`` says where a run stands: ``running`` from its start (with the process id and
host), then ``success``, ``failed`` or ``interrupted``. A run killed outright (``kill -9``, a
lost node) cannot say so itself; :func:`run_status` reads a ``running`` folder whose process is
gone as ``interrupted``.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import math
import os
import platform
import socket
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.data.token_cache import file_sha256

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
RUN_INFO_FILE = "run_info.json"
METRICS_FILE = "metrics.json"
#: metrics.json statuses besides success / failed
RUNNING, INTERRUPTED = "running", "interrupted"
#: metric-name prefixes of base-vs-tuned: the untrained head and the fine-tuned gain
BASE = "base/"
IMPROVEMENT = "improvement/"
PACKAGES = (
    "torch",
    "lightning",
    "torchmetrics",
    "transformers",
    "tokenizers",
    "hydra-core",
    "aim",
    "scikit-learn",
    "pandas",
    "numpy",
)


# -- JSON ---------------------------------------------------------------------------------
def json_clean(value: Any) -> Any:
    """Nested values made strict JSON: tensors/numpy -> Python, NaN/inf -> null, paths -> str."""
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_clean(value.tolist())
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def atomic_write_text(path: str | Path, text: str, mode: int = 0o644) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """``payload`` as strict, sorted JSON, written atomically."""
    text = json.dumps(json_clean(payload), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_json_file(path: str | Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def running_record(started: float) -> dict[str, Any]:
    """The ``metrics.json`` of a run in progress: who runs it, since when."""
    return {
        "status": RUNNING,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "metrics": {},
    }


def process_alive(pid: Any) -> bool:
    """Whether a process with this id runs on this machine (a zombie does not)."""
    try:
        pid = int(pid)
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError, TypeError):
        return False
    except PermissionError:  # another user's process
        return True
    try:  # Linux: a killed child its parent has not reaped yet is a zombie ("Z")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def run_status(folder: str | Path) -> dict[str, Any] | None:
    """A run folder's ``metrics.json`` as it stands now, or None when it has none (not
    started yet, or killed before its start was recorded). A ``running`` record whose process
    is gone on this host is ``interrupted``; on another host it stays ``running`` (unknown)."""
    record = read_json_file(Path(folder) / METRICS_FILE)
    if not isinstance(record, dict):
        return None
    here = record.get("host") == socket.gethostname()
    if record.get("status") == RUNNING and here and not process_alive(record.get("pid")):
        return {
            **record,
            "status": INTERRUPTED,
            "error": f"process {record.get('pid')} ended without recording a result (killed?)",
        }
    return record


def mark_resumed(earlier: str | Path, resumed_by: str | Path) -> dict[str, Any] | None:
    """Record in an earlier run folder that ``resumed_by`` continued it: a run that never
    recorded its end (killed) becomes ``interrupted``; a finished or failed one keeps its
    status. A folder that cannot be written costs a warning."""
    earlier, resumed_by = Path(earlier), Path(resumed_by)
    if earlier.resolve() == resumed_by.resolve():
        return None
    record = run_status(earlier) or {"metrics": {}}
    if record.get("status") == RUNNING:
        log.warning(
            "%s says its run (pid %s on %s) is still going; resuming from its checkpoint anyway",
            earlier,
            record.get("pid"),
            record.get("host"),
        )
        return None
    if record.get("status") in (None, INTERRUPTED):
        record["status"] = INTERRUPTED
        record.setdefault("error", "killed before it recorded a result")
    record["resumed_by"] = str(resumed_by)
    try:
        write_json(earlier / METRICS_FILE, record)
    except OSError as err:
        log.warning("cannot mark %s as resumed by %s: %s", earlier, resumed_by, err)
        return None
    return record


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


def write_resolved_config(cfg: DictConfig, output_dir: str | Path) -> Path:
    return atomic_write_text(Path(output_dir) / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))


# -- what makes a run reproducible ----------------------------------------------------------
def git_commit(cwd: str | Path | None = None) -> str:
    """The checked-out commit, with ``-dirty`` if the tree has uncommitted changes."""
    try:
        run = dict(cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_info(
    seed: int, data_files: list[Path], root_dir: str | Path | None = None
) -> dict[str, Any]:
    """Everything besides the resolved config needed to repeat a run."""
    return {
        "seed": seed,
        "git_commit": git_commit(root_dir),
        "packages": package_versions(),
        "data_files": {str(path): file_sha256(path) for path in data_files},
    }


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
    message = "" if error is None else " ".join(str(error).split())
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
    target = config_value(cfg, "results_file")
    if not target:
        return None
    try:
        return append_result(target, result_row(cfg, summary, error))
    except OSError as err:
        log.warning("cannot append to results file %s: %s", target, err)
        return None
