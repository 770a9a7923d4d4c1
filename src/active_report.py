"""`python -m src.active_report folders=[<run or multirun folders>] [out=DIR]`: learning
curves of active-learning runs (metric vs labelled rows, mean ± std over seeds, strategies
overlaid), the normalised area under each, and each strategy's AULC paired seed by seed against
a reference strategy. Writes ``active_report.md``, ``aulc*.csv``, ``curves.csv`` and
``learning_curves.png`` into ``out`` (default: the first folder).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from src.active_learning.report import OUTPUTS, write_report
from src.errors import TextlabError, report_user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="active_report")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        folders = [Path(f) for f in (cfg.folders or [])]
        if not folders:
            raise TextlabError("folders is required: folders=[logs/active/multiruns/<time>]")
        text = write_report(folders, cfg.out, tuple(cfg.metrics), cfg.reference)
    out = Path(cfg.out) if cfg.out else folders[0]
    print(text)
    print(f"written: {out}/{OUTPUTS[0]}, {', '.join(OUTPUTS[1:])}", flush=True)


if __name__ == "__main__":
    main()
