"""The files of a run folder, by name, and how they are written: atomically (a temporary file
beside the target, then a rename), so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "config.yaml"
RUN_INFO_FILE = "run_info.json"
METRICS_FILE = "metrics.json"
STATISTICS_FILE = "statistics.json"


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


def atomic_write_bytes(path: str | Path, data: Any, mode: int = 0o644) -> Path:
    """``data`` (bytes-like) into ``path`` through a temporary file in the same folder; an
    error names ``path``, not the temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None or str(err.filename) == tmp:
            err.filename = str(path)
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, mode: int = 0o644) -> Path:
    """``text`` (UTF-8) into ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """``payload`` as strict, sorted JSON, written atomically."""
    text = json.dumps(json_clean(payload), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write_text(path, text + "\n")


#: the largest run-folder JSON file read (metrics.json, run_info.json...): a few KB when whole
MAX_JSON_BYTES = 16 << 20


def read_json_file(path: str | Path) -> dict[str, Any] | None:
    """A run-folder JSON file's object, or None when it is missing, unreadable, not a JSON
    object or larger than ``MAX_JSON_BYTES``: files under logs/ are shared and may be damaged,
    and one damaged file must not stop a run or a tool that only passes by it."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
        value = None if len(data) > MAX_JSON_BYTES else json.loads(data)
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
