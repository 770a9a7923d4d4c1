"""`python -m src.compare sweep=<multirun folder> [out=DIR] [title=...]`: compare the
configurations of a sweep over seeds (mean ± std per cell, each pooling paired by seed with
[CLS]: t-test, bootstrap interval, Holm correction across poolers).

Writes ``comparison.md``, ``comparison.png`` and ``runs.csv`` (into the sweep folder unless
``out``) and prints the markdown.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from src.errors import TextlabError, report_user_errors
from src.report.compare import paired_differences, summarise
from src.report.render import plot_comparison, report_markdown
from src.report.runs import load_runs

OUTPUTS = ("comparison.md", "comparison.png", "runs.csv")


def compare(
    sweep: str | Path | None, out: str | Path | None = None, title: str | None = None
) -> str:
    """Write the comparison of a multirun folder's jobs; returns the markdown."""
    if not sweep:
        raise TextlabError(
            "sweep is required: python -m src.compare sweep=logs/<task>/multiruns/<time>"
        )
    sweep = Path(sweep)
    runs = load_runs(sweep)
    out = Path(out) if out else sweep
    out.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown(
        title or f"Comparison of {sweep}", runs, summarise(runs), paired_differences(runs)
    )
    (out / OUTPUTS[0]).write_text(markdown)
    plot_comparison(runs, out / OUTPUTS[1])
    runs.to_csv(out / OUTPUTS[2], index=False)
    return markdown


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        markdown = compare(cfg.sweep, cfg.out, cfg.title)
    out = Path(cfg.out or cfg.sweep)
    print(markdown)
    print("written: " + ", ".join(str(out / name) for name in OUTPUTS), flush=True)


if __name__ == "__main__":
    main()
