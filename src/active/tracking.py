"""Where per-round numbers go: `<run>/rounds.csv` (always) and Aim (when logger=aim).

In Aim, each round is one step: `test/f1_micro_tuned` is tracked as metric `f1_micro` with
context `{subset: test, thresholds: tuned}` (`thresholds: 0.5` for the default threshold), and
`num_labelled` is its own metric, so the UI can align any curve by it (x = labelled rows).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from src.active.checkpoints import completed_rounds
from src.utils.aim_repo import aim_repos_in, ensure_aim_repo

FIRST_COLUMNS = ("round", "num_labelled", "strategy", "seed")


def write_rounds_csv(run_dir: Path) -> Path:
    """Rebuild rounds.csv from the round folders (so a resumed run's file is whole)."""
    rows = [checkpoint.metrics for checkpoint in completed_rounds(run_dir)]
    path = Path(run_dir) / "rounds.csv"
    table = pd.DataFrame(rows)
    first = [c for c in FIRST_COLUMNS if c in table.columns]
    table[first + [c for c in table.columns if c not in first]].to_csv(path, index=False)
    return path


def aim_name_and_context(key: str) -> tuple[str, dict[str, str]]:
    """``test/f1_micro_tuned`` -> (``f1_micro``, {subset: test, thresholds: tuned})."""
    subset, _, name = key.partition("/")
    if name.endswith("_tuned"):
        return name[: -len("_tuned")], {"subset": subset, "thresholds": "tuned"}
    if name.startswith("f1_"):
        return name, {"subset": subset, "thresholds": "0.5"}
    return name, {"subset": subset}


class AimRounds:
    """One Aim run per active-learning run; a resumed run appends to the same Aim run."""

    def __init__(self, cfg: DictConfig, run_hash: str | None, params: dict[str, Any]) -> None:
        from aim import Run

        repos = aim_repos_in(cfg.get("logger"))
        self.run = None
        if not repos:
            return
        ensure_aim_repo(repos[0])
        self.run = Run(
            run_hash=run_hash,
            repo=repos[0],
            experiment=cfg.task_name,
            log_system_params=False,
            system_tracking_interval=None,
            capture_terminal_logs=False,
        )
        if run_hash is None:
            self.run["hparams"] = {
                "config": OmegaConf.to_container(cfg, resolve=True),
                "run": params,
            }

    @property
    def hash(self) -> str | None:
        return None if self.run is None else self.run.hash

    def track_round(self, metrics: dict[str, Any]) -> None:
        if self.run is None:
            return
        step = int(metrics["round"])
        self.run.track(int(metrics["num_labelled"]), name="num_labelled", step=step)
        for key, value in metrics.items():
            if "/" not in key or value is None or not math.isfinite(float(value)):
                continue
            name, context = aim_name_and_context(key)
            self.run.track(float(value), name=name, step=step, context=context)

    def close(self) -> None:
        if self.run is not None:
            self.run.close()
