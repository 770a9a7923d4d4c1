"""`python -m src.train [overrides]`: compose the config, train, print where the run went.

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

from src.pipeline.failures import record_failure  # noqa: E402
from src.pipeline.report import format_summary  # noqa: E402
from src.pipeline.training import train  # noqa: E402
from src.utils.user_errors import report_user_errors  # noqa: E402


def _in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns the validation objective (``cfg.objective``) for sweepers such as Optuna."""
    if _in_sweep():
        try:
            summary = train(cfg)
        except Exception as error:  # noqa: BLE001  (recorded; the sweep goes on)
            record_failure(cfg.paths.output_dir, error)
            return math.nan
    else:
        with report_user_errors():
            summary = train(cfg)
    print(format_summary(summary, cfg.paths.output_dir), flush=True)
    return summary["metrics"].get(cfg.objective)


if __name__ == "__main__":
    main()
