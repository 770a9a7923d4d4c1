"""The comparison's figures: a forest plot of each pooling − reference on the primary metric
(``forest.png``/``.pdf``, one paper column wide), and a per-seed diagnostic of every metric
(``comparison.png``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from src.report.comparison import CONFIRMATORY, PairedDifference  # noqa: E402

#: a paper column (inches)
COLUMN_WIDTH = 3.4


def distinct_overrides(cells: list[str]) -> list[str]:
    """Each cell without the overrides every cell shares (what tells the cells apart)."""
    if len(cells) < 2:
        return cells
    shared = set.intersection(*(set(cell.split()) for cell in cells))
    return [" ".join(t for t in cell.split() if t not in shared) or cell for cell in cells]


def _p_text(p: float) -> str:
    if math.isnan(p):
        return "Holm p –"
    return "Holm p < 0.001" if p < 0.001 else f"Holm p = {p:.3f}"


def plot_forest(
    diffs: Sequence[PairedDifference], path: str | Path, primary: str, control: str = "cls"
) -> list[Path]:
    """One row per pooling of each cell: its mean difference from ``control`` on ``primary``
    (dot), the t-interval over seeds (thick bar), the bootstrap over seeds and test examples
    (thin bar, where the runs had predictions), and beside it the difference, the interval
    (the bootstrap where there is one) and the Holm-corrected p.
    Writes ``path`` and the same figure as PDF; returns both paths."""
    rows = [d for d in diffs if d.family == CONFIRMATORY]
    cells = sorted({d.cell for d in rows}) or [""]
    labels = dict(zip(cells, distinct_overrides(cells), strict=True))
    counts = [max(1, sum(d.cell == c for d in rows)) for c in cells]
    height = 0.75 + 0.36 * sum(counts) + 0.3 * len(cells)
    fig, axes = plt.subplots(
        len(cells), 1, figsize=(COLUMN_WIDTH, height), gridspec_kw={"height_ratios": counts}
    )
    axes = np.atleast_1d(axes)
    has_boot = any(not math.isnan(d.boot_low) for d in rows)
    for ax, cell in zip(axes, cells, strict=True):
        group = sorted((d for d in rows if d.cell == cell), key=lambda d: d.mean)
        for y, d in enumerate(group):
            if not math.isnan(d.boot_low):
                ax.plot([d.boot_low, d.boot_high], [y, y], color="0.55", lw=1, zorder=1)
            if not math.isnan(d.t_low):
                ax.plot([d.t_low, d.t_high], [y, y], color="C0", lw=3, zorder=2)
            ax.plot(d.mean, y, "o", color="k", ms=3.5, zorder=3)
            low, high = (d.boot_low, d.boot_high) if has_boot else (d.t_low, d.t_high)
            bounds = f" [{low:+.4f}, {high:+.4f}]" if not math.isnan(low) else ""
            p_line = _p_text(d.p_holm) if d.tested else f"n = {len(d.seeds)} < 3: no test"
            ax.text(
                1.04,
                y,
                f"{d.mean:+.4f}{bounds}\n{p_line}",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=5.5,
                linespacing=1.1,
            )
        ax.axvline(0, color="k", lw=0.7, ls="--", zorder=0)
        ax.set_yticks(range(len(group)), [f"{d.treatment} (n={len(d.seeds)})" for d in group])
        ax.set_ylim(-0.6, max(len(group), 1) - 0.4)
        ax.tick_params(labelsize=6.5)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if len(cells) > 1:
            ax.set_title(labels[cell][:45], fontsize=6.5)
    if not rows:
        axes[0].text(0.5, 0.5, f"no comparison on {primary}", ha="center", fontsize=7)
    axes[-1].set_xlabel(f"{primary} − {control} (mean over seeds)", fontsize=6.5)
    bars = "Thick: 95% t-interval over seeds"
    bars += "; thin: bootstrap over seeds × test rows (in brackets)." if has_boot else "."
    fig.text(0.02, 0.01, f"{bars}\np: paired t-test, Holm over the family.", fontsize=5.5)
    fig.subplots_adjust(left=0.3, right=0.62, top=1 - 0.12 / height, bottom=0.72 / height)
    written = []
    fig.savefig(Path(path), dpi=200)
    pdf = Path(path).with_suffix(".pdf")
    fig.savefig(pdf, metadata={"CreationDate": None})  # no date: a re-render is byte-equal
    written += [Path(path), pdf]
    plt.close(fig)
    return written


def plot_per_seed(
    runs: pd.DataFrame, path: str | Path, metrics: Sequence[str], control: str = "cls"
) -> Path:
    """A diagnostic: one panel per metric (a row per cell), the poolings side by side
    (``control`` first), each seed a dot in its own colour, and the mean ± 1 sample std."""
    ok = runs[runs["status"] == "success"]
    cells = sorted(ok["cell"].unique()) or [""]
    labels = dict(zip(cells, distinct_overrides(cells), strict=True))
    seeds = sorted(ok["seed"].astype(str).unique(), key=lambda s: (len(s), s))
    colours = {s: f"C{i % 10}" for i, s in enumerate(seeds)}
    fig, axes = plt.subplots(
        len(cells),
        len(metrics),
        figsize=(0.6 + 2.9 * len(metrics), 0.9 + 2.6 * len(cells)),
        squeeze=False,
    )
    for r, cell in enumerate(cells):
        group = ok[ok["cell"] == cell]
        poolings = sorted(group["pooling"].unique(), key=lambda p: (p != control, p))
        for ax, metric in zip(axes[r], metrics, strict=True):
            if metric in group:
                for x, pooling in enumerate(poolings):
                    values = group[group["pooling"] == pooling][["seed", metric]].dropna()
                    for offset, (seed, value) in enumerate(values.itertuples(index=False)):
                        jitter = 0.05 * (offset - (len(values) - 1) / 2)
                        ax.plot(x - 0.12 + jitter, value, "o", ms=3.5, color=colours[str(seed)])
                    if len(values) > 1:
                        ax.errorbar(
                            x + 0.15,
                            values[metric].mean(),
                            yerr=values[metric].std(ddof=1),
                            fmt="s",
                            color="k",
                            ms=3,
                            capsize=3,
                            lw=1,
                        )
            ax.set_xticks(range(len(poolings)), poolings, rotation=30, ha="right", fontsize=7)
            ax.set_ylabel(metric, fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_xlim(-0.6, len(poolings) - 0.4)
            if len(cells) > 1:
                ax.set_title(labels[cell][:40], fontsize=7)
    handles = [
        plt.Line2D([], [], ls="", marker="o", ms=4, color=colours[s], label=f"seed {s}")
        for s in seeds
    ]
    handles.append(
        plt.Line2D([], [], ls="-", marker="s", ms=3, color="k", label="mean ± 1 sample std")
    )
    fig.legend(
        handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=7, frameon=False
    )
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
