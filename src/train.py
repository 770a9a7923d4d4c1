"""`python -m src.train [overrides]`: compose the config, train, print where the run went."""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.pipeline.report import format_summary  # noqa: E402
from src.pipeline.training import train  # noqa: E402
from src.utils.user_errors import report_user_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns the validation objective (``val/auc_macro``) for sweepers such as Optuna."""
    with report_user_errors():
        summary = train(cfg)
    print(format_summary(summary, cfg.paths.output_dir), flush=True)
    return summary["metrics"].get(cfg.get("objective", "val/auc_macro"))


if __name__ == "__main__":
    main()
