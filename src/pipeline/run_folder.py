"""Files every run folder holds: resolved config, run_info.json, metrics.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write atomically (tmp + rename) so an interrupted run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_jsonable) + "\n")
    tmp.replace(path)
    return path


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Tensors and NaN made JSON-friendly (NaN -> null)."""
    return {key: _jsonable(value) for key, value in sorted(metrics.items())}


def write_resolved_config(cfg: DictConfig, output_dir: str | Path) -> Path:
    path = Path(output_dir) / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path
