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
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.baselines.report import format_baseline_summary  # noqa: E402
from src.baselines.runner import run_baseline  # noqa: E402
from src.pipeline.failures import record_failure  # noqa: E402
from src.utils.user_errors import report_user_errors  # noqa: E402


def _in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path="../conf", config_name="baseline")
def main(cfg: DictConfig) -> float | None:
    """Returns the validation objective (``cfg.objective``), as `src.train` does."""
    if _in_sweep():
        try:
            summary = run_baseline(cfg)
        except Exception as error:  # noqa: BLE001  (recorded; the sweep goes on)
            record_failure(cfg.paths.output_dir, error)
            return math.nan
    else:
        with report_user_errors():
            summary = run_baseline(cfg)
    print(format_baseline_summary(summary, cfg.paths.output_dir), flush=True)
    return summary["metrics"].get(cfg.objective)


if __name__ == "__main__":
    main()
