"""Read the jobs of a multirun folder into one table: overrides, status, final metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from src.errors import TextlabError

MODEL_POOLING = {"cls_pooler": "cls", "avg_pooler": "mean"}
NOT_A_CELL = ("seed", "model", "model.pooling")


def _overrides(job: Path) -> dict[str, str]:
    path = job / ".hydra" / "overrides.yaml"
    items = yaml.safe_load(path.read_text()) if path.is_file() else []
    return dict(item.lstrip("+~").split("=", 1) for item in items or [] if "=" in item)


def _pooling(job: Path, overrides: dict[str, str]) -> str:
    if "model.pooling" in overrides:
        return overrides["model.pooling"]
    if "model" in overrides:
        return MODEL_POOLING.get(overrides["model"], overrides["model"])
    config = job / "config.yaml"
    if config.is_file():
        return str(yaml.safe_load(config.read_text()).get("model", {}).get("pooling", "cls"))
    return "cls"


def load_runs(folder: str | Path) -> pd.DataFrame:
    """One row per job folder (``<sweep>/<n>/``): cell, pooling, seed, status, error, metrics.

    ``cell`` is every override except seed and pooling, so seeds of one configuration group
    together and the two poolings of a cell pair up by seed.
    """
    folder = Path(folder)
    jobs = sorted(p.parent.parent for p in folder.glob("*/.hydra/overrides.yaml"))
    if not jobs:
        raise TextlabError(
            f"no jobs in {folder}: pass a multirun folder (logs/<task>/multiruns/<time>) "
            "whose job folders hold .hydra/overrides.yaml"
        )
    rows = []
    for job in jobs:
        overrides = _overrides(job)
        metrics_file = job / "metrics.json"
        summary = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        status = summary.get("status", "success" if summary.get("metrics") else "unfinished")
        cell = " ".join(f"{k}={v}" for k, v in sorted(overrides.items()) if k not in NOT_A_CELL)
        rows.append(
            {
                "job": job.name,
                "cell": cell or "default",
                "pooling": _pooling(job, overrides),
                "seed": overrides.get("seed", ""),
                "status": status,
                "error": summary.get("error", ""),
                **{k: v for k, v in summary.get("metrics", {}).items() if v is not None},
            }
        )
    return pd.DataFrame(rows)
