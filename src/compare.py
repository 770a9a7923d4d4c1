"""`python -m src.compare sweep=<multirun folder> [out=DIR] [title=...]`: compare the
configurations of a sweep over seeds (mean ± std per cell, each pooling paired by seed with
[CLS]: t-test, bootstrap interval, Holm correction across poolers), on the headline test
metrics of the sweep's task.

``sweep=[<folder>,<folder>]`` compares the jobs of several sweeps as one, for a sweep extended
later with more seeds; job names then carry their folder's name.

Writes ``comparison.md``, ``comparison.png`` and ``runs.csv`` (into the sweep folder unless
``out``) and prints the markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from src.errors import TextlabError, report_user_errors
from src.report.compare import comparison_metrics, paired_differences, summarise
from src.report.render import plot_comparison, report_markdown
from src.report.runs import load_runs

OUTPUTS = ("comparison.md", "comparison.png", "runs.csv")


def load_sweeps(folders: Sequence[str | Path]) -> pd.DataFrame:
    """The jobs of one or more multirun folders; with several, ``job`` is ``<folder>/<n>``."""
    if len(folders) == 1:
        return load_runs(folders[0])
    frames = []
    for folder in map(Path, folders):
        runs = load_runs(folder)
        frames.append(runs.assign(job=folder.name + "/" + runs["job"].astype(str)))
    return pd.concat(frames, ignore_index=True)


def compare(
    sweep: str | Path | Sequence[str | Path] | None,
    out: str | Path | None = None,
    title: str | None = None,
) -> str:
    """Write the comparison of the jobs of one multirun folder (or several); returns the
    markdown."""
    folders = [sweep] if isinstance(sweep, (str, Path)) else list(sweep or [])
    if not folders:
        raise TextlabError(
            "sweep is required: python -m src.compare sweep=logs/<task>/multiruns/<time>"
        )
    runs = load_sweeps(folders)
    out = Path(out) if out else Path(folders[0])
    out.mkdir(parents=True, exist_ok=True)
    names = ", ".join(str(folder) for folder in folders)
    metrics = comparison_metrics(runs)
    markdown = report_markdown(
        title or f"Comparison of {names}",
        runs,
        summarise(runs, metrics),
        paired_differences(runs, metrics=metrics),
        metrics,
    )
    (out / OUTPUTS[0]).write_text(markdown)
    plot_comparison(runs, out / OUTPUTS[1], metrics)
    runs.to_csv(out / OUTPUTS[2], index=False)
    return markdown


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        markdown = compare(cfg.sweep, cfg.out, cfg.title)
    sweep = cfg.sweep if isinstance(cfg.sweep, str) else cfg.sweep[0]
    out = Path(cfg.out or sweep)
    print(markdown)
    print("written: " + ", ".join(str(out / name) for name in OUTPUTS), flush=True)


if __name__ == "__main__":
    main()
