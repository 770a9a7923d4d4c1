"""Render a comparison as a markdown report and a PNG figure."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from src.report.compare import METRICS, PairedDifference  # noqa: E402


def _num(value: float, digits: int = 4) -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(summary: pd.DataFrame, metrics=METRICS) -> str:
    header = ["cell", "pooling", "runs", "failed", "not finished", *metrics]
    rows = [
        [
            f"`{row['cell']}`",
            row["pooling"],
            str(row["runs"]),
            str(row["failed"]),
            str(row["not finished"]),
            *(f"{_num(row[f'{m} mean'])} ± {_num(row[f'{m} std'])}" for m in metrics),
        ]
        for _, row in summary.iterrows()
    ]
    return markdown_table(header, rows)


def differences_table(diffs: list[PairedDifference]) -> str:
    header = [
        "cell",
        "pooling",
        "metric",
        "seeds",
        "difference per seed",
        "mean diff",
        "paired t",
        "p",
        "p (Holm)",
        "95% bootstrap CI",
    ]
    rows = [
        [
            f"`{d.cell}`",
            f"{d.treatment} − {d.control}",
            d.metric,
            ",".join(d.seeds),
            ", ".join(f"{x:+.4f}" for x in d.differences),
            f"{d.mean:+.4f}",
            _num(d.t_statistic, 2),
            _num(d.p_value, 3),
            _num(d.p_holm, 3),
            f"[{_num(d.ci_low)}, {_num(d.ci_high)}]",
        ]
        for d in diffs
    ]
    return markdown_table(header, rows)


def failures_table(runs: pd.DataFrame) -> str:
    failed = runs[runs["status"] != "success"]
    if failed.empty:
        return "No failed runs."
    rows = [
        [r["job"], f"`{r['cell']}`", r["pooling"], str(r["seed"]), r["status"], r["error"]]
        for _, r in failed.iterrows()
    ]
    return markdown_table(["job", "cell", "pooling", "seed", "status", "error"], rows)


def report_markdown(
    title: str, runs: pd.DataFrame, summary: pd.DataFrame, diffs, metrics=METRICS
) -> str:
    return (
        "\n\n".join(
            [
                f"# {title}",
                "## Mean ± std over seeds (test split)",
                summary_table(summary, metrics),
                "## Paired difference: each pooling − [CLS], by seed (p Holm-corrected "
                "across the poolings of a cell and metric)",
                differences_table(diffs)
                if diffs
                else "No cell has another pooling and [CLS] with a common seed.",
                "## Failed runs",
                failures_table(runs),
            ]
        )
        + "\n"
    )


def distinct_overrides(cells: list[str]) -> list[str]:
    """Each cell without the overrides every cell shares (what tells the cells apart)."""
    if len(cells) < 2:
        return cells
    shared = set.intersection(*(set(cell.split()) for cell in cells))
    return [" ".join(t for t in cell.split() if t not in shared) or cell for cell in cells]


def plot_comparison(runs: pd.DataFrame, path: str | Path, metrics=METRICS) -> Path:
    """One panel per metric: each seed a dot, poolings side by side, seeds joined by a line."""
    ok = runs[runs["status"] == "success"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    cells = sorted(ok["cell"].unique())
    colours = {p: f"C{i}" for i, p in enumerate(sorted(ok["pooling"].unique()))}
    for ax, metric in zip(axes[0], metrics, strict=True):
        labelled: set[str] = set()  # each pooling in this panel's legend once
        for c, cell in enumerate(cells):
            group = ok[ok["cell"] == cell]
            if metric not in group:
                continue
            table = group.pivot_table(index="seed", columns="pooling", values=metric)
            poolings = sorted(table.columns)
            xs = [c + 0.25 * (i - (len(poolings) - 1) / 2) for i in range(len(poolings))]
            for _, values in table.iterrows():
                ax.plot(xs, values[poolings].to_numpy(), color="0.75", zorder=1)
            for x, pooling in zip(xs, poolings, strict=True):
                first = pooling not in labelled
                labelled.add(pooling)
                ax.scatter(
                    [x] * len(table),
                    table[pooling],
                    color=colours[pooling],
                    label=pooling if first else None,
                    zorder=2,
                )
                ax.errorbar(
                    x + 0.06,
                    table[pooling].mean(),
                    yerr=table[pooling].std(ddof=1),
                    fmt="k_",
                    capsize=4,
                    zorder=3,
                )
        ticks = [cell[:28] for cell in distinct_overrides(cells)]
        ax.set_xticks(range(len(cells)), ticks, rotation=15, fontsize=7)
        ax.set_title(metric)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
