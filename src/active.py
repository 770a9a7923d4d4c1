"""`python -m src.active data=goemotions active.strategy=bald active.rounds=10 ... seed=1`.

Simulates pool-based active learning (``src.active_learning.loop``); ``active.resume=true``
continues an interrupted run in its folder. In a multirun (`-m`), a job that fails is recorded
as failed in its folder and the sweep goes on.
"""

from __future__ import annotations

import math

import hydra
from omegaconf import DictConfig

from src.active_learning.loop import run_active
from src.runs.lifecycle import run_job

RESULT = "test/f1_micro_tuned"


@hydra.main(version_base="1.3", config_path="../conf", config_name="active")
def main(cfg: DictConfig) -> float | None:
    """Returns the last round's test micro-F1 at tuned thresholds."""
    output_dir = cfg.active.run_dir or cfg.paths.output_dir
    summary = run_job(run_active, cfg, output_dir)
    if summary is None:  # a failed sweep job, recorded in its folder
        return math.nan
    value = summary["metrics"].get(RESULT)
    print(
        f"{summary['status']}: {summary['rounds_done']} rounds, {summary['num_labelled']} "
        f"labelled, last {RESULT} = {value}; run folder {output_dir}",
        flush=True,
    )
    return value


if __name__ == "__main__":
    main()
