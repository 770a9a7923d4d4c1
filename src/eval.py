"""`python -m src.eval ckpt_path=<run>/checkpoints/best.ckpt [thresholds=tuned|0.5] [split=test]`:
score a trained checkpoint at 0.5 and at its tuned thresholds; writes eval.json to its own run
folder (logs/eval/runs/<time>/)."""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from src.pipeline.eval_table import format_evaluation  # noqa: E402
from src.pipeline.evaluation import evaluate_checkpoint  # noqa: E402
from src.pipeline.run_folder import write_json  # noqa: E402
from src.pipeline.statistics import json_clean  # noqa: E402
from src.utils.user_errors import report_user_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        result = evaluate_checkpoint(
            cfg.ckpt_path, thresholds=cfg.thresholds, split=cfg.split, ece_bins=cfg.ece_bins
        )
    output = write_json(Path(cfg.paths.output_dir) / "eval.json", json_clean(result))
    labels = list(result["thresholds"])
    print(format_evaluation(result, labels), flush=True)
    print(f"written: {output}", flush=True)


if __name__ == "__main__":
    main()
