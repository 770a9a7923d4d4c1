"""`python -m src.train [overrides]`: compose the config, train, print where the run went.

In a multirun (`-m`), a job that fails is recorded as failed in its folder and the sweep goes
on; a single run fails loudly (one line for user errors).
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.pipeline.failures import run_job  # noqa: E402
from src.pipeline.report import format_summary  # noqa: E402
from src.pipeline.training import train  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns the validation objective (``cfg.objective``) for sweepers such as Optuna."""
    summary = run_job(train, cfg, cfg.paths.output_dir)
    if summary is None:  # a failed sweep job, recorded in its folder
        return math.nan
    print(format_summary(summary, cfg.paths.output_dir), flush=True)
    return summary["metrics"].get(cfg.objective)


if __name__ == "__main__":
    main()
