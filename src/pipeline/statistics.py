"""``statistics.json``: one file with everything a run measured and everything needed to
repeat it (metrics, thresholds, ECE, seed, resolved config, git commit, packages, data hashes).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.pipeline.post_training import Analysis
from src.pipeline.run_folder import write_json

STATISTICS_FILE = "statistics.json"


def json_clean(value: Any) -> Any:
    """Nested values made strict-JSON: numpy -> Python, NaN/inf -> null, paths -> str."""
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _relative(path: Path, run_dir: Path) -> str:
    return str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)


def statistics_payload(
    cfg: DictConfig,
    run_info: dict[str, Any],
    summary: dict[str, Any],
    analysis: Analysis | None,
    history: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        **run_info,  # seed, git_commit, packages, data_files
        "config": OmegaConf.to_container(cfg, resolve=True),
        "metrics": summary.get("metrics", {}),
        "training": {k: v for k, v in summary.items() if k != "metrics"},
        "history": history or {},
    }
    if analysis is not None:
        payload["evaluation"] = {"checkpoint": analysis.checkpoint, **analysis.evaluation}
        payload["thresholds"] = analysis.tuning.to_json()
        payload["calibration"] = analysis.calibration
        run_dir = Path(cfg.paths.output_dir).resolve()
        payload["plots"] = {
            name: _relative(Path(path).resolve(), run_dir) for name, path in analysis.plots.items()
        }
    payload.update(extra or {})  # what other tasks' analyses add (multiclass confusion matrix)
    return json_clean(payload)


def write_statistics(
    output_dir: str | Path,
    cfg: DictConfig,
    run_info: dict[str, Any],
    summary: dict[str, Any],
    analysis: Analysis | None,
    history: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    payload = statistics_payload(cfg, run_info, summary, analysis, history, extra)
    return write_json(Path(output_dir) / STATISTICS_FILE, payload)
