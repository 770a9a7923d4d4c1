"""`python -m src.baseline data=<set> baseline=<dummy|tfidf_lr|frozen_lr>`: a non-neural or
frozen-encoder baseline on the neural run's splits, scored with the same metric code.

In a multirun (`-m`), a job that fails is recorded as failed in its folder and the sweep goes
on; a single run fails loudly (one line for user errors).
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.baselines.report import format_baseline_summary  # noqa: E402
from src.baselines.runner import run_baseline  # noqa: E402
from src.pipeline.failures import run_job  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="baseline")
def main(cfg: DictConfig) -> float | None:
    """Returns the validation objective (``cfg.objective``), as `src.train` does."""
    summary = run_job(run_baseline, cfg, cfg.paths.output_dir)
    if summary is None:  # a failed sweep job, recorded in its folder
        return math.nan
    print(format_baseline_summary(summary, cfg.paths.output_dir), flush=True)
    return summary["metrics"].get(cfg.objective)


if __name__ == "__main__":
    main()
