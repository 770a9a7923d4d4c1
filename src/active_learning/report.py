"""Learning curves and the area under them, over the runs of one or more sweeps.

The normalised area under the learning curve (AULC) of a run is the trapezoidal area under
metric-vs-labelled-rows divided by the width of the labelled range: the curve's mean height,
on the metric's own scale (1.0 = perfect from the first round). ``write_report`` is what
``python -m src.active_report`` does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from src.errors import TextlabError
from src.evaluation.plots import save_png
from src.report.statistics import paired_t_test

METRICS = ("test/f1_micro_tuned", "test/f1_macro_tuned", "test/auc_macro")
X = "num_labelled"
OUTPUTS = (
    "active_report.md",
    "aulc.csv",
    "aulc_summary.csv",
    "aulc_paired.csv",
    "curves.csv",
    "learning_curves.png",
)


def find_rounds_files(folders: list[Path]) -> list[Path]:
    """Every run's rounds.csv under these folders (a run folder itself, or a sweep)."""
    found: list[Path] = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise TextlabError(f"{folder} is not a folder; pass run or multirun folders")
        found += sorted(Path(folder).rglob("rounds.csv"))
    if not found:
        raise TextlabError(
            f"no rounds.csv under {', '.join(map(str, folders))}; pass the folders of "
            "`python -m src.active` runs (logs/active/multiruns/<time>)"
        )
    return found


def load_rounds(files: list[Path]) -> pd.DataFrame:
    """All rounds of all runs, one row per (run, round), with ``run`` = the run folder."""
    frames = []
    for path in files:
        frame = pd.read_csv(path)
        missing = {"strategy", "seed", X} - set(frame.columns)
        if missing:
            raise TextlabError(f"{path} lacks column(s) {sorted(missing)}; is it a rounds.csv?")
        frames.append(frame.assign(run=str(path.parent)))
    return pd.concat(frames, ignore_index=True)


def normalised_aulc(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoidal area under y(x) divided by (max x − min x); y itself for a single point.

    Example:
        >>> normalised_aulc(np.array([100, 200, 300]), np.array([0.2, 0.4, 0.4]))
        0.35
    """
    order = np.argsort(x)
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    if len(x) == 1:
        return float(y[0])
    width = x[-1] - x[0]
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))
    return round(float(area / width), 12)


def aulc_per_run(rounds: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    rows = []
    for (run, strategy, seed), group in rounds.groupby(["run", "strategy", "seed"], sort=True):
        row = {"run": run, "strategy": strategy, "seed": seed, "rounds": len(group)}
        for metric in metrics:
            row[metric] = normalised_aulc(group[X].to_numpy(), group[metric].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def aulc_summary(per_run: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Per strategy: number of runs, mean and sample std (ddof=1) of each AULC."""
    rows = []
    for strategy, group in per_run.groupby("strategy", sort=True):
        row = {"strategy": strategy, "runs": len(group)}
        for metric in metrics:
            values = group[metric].to_numpy(float)
            row[f"{metric} mean"] = values.mean()
            row[f"{metric} std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def paired_vs_reference(
    per_run: pd.DataFrame, reference: str = "random", metrics: tuple[str, ...] = METRICS
) -> pd.DataFrame:
    """Per strategy and metric: AULC minus the reference strategy's, seed by seed.

    Runs with the same seed share the pool and the initial labelled set, so the per-seed
    difference removes that source of variance. Reports the mean difference, the seeds where the
    strategy is ahead, and a paired t-test's p-value (NaN below 2 pairs or with equal
    differences). Empty when the reference strategy is absent.
    """
    rows: list[dict] = []
    if reference not in set(per_run["strategy"]):
        return pd.DataFrame(rows)
    for metric in metrics:
        table = per_run.pivot_table(index="seed", columns="strategy", values=metric)
        for strategy in sorted(c for c in table.columns if c != reference):
            pairs = table[[strategy, reference]].dropna()
            diffs = (pairs[strategy] - pairs[reference]).to_numpy(float)
            _, p_value = paired_t_test(pairs[strategy], pairs[reference])
            rows.append(
                {
                    "strategy": strategy,
                    "reference": reference,
                    "metric": metric,
                    "pairs": len(diffs),
                    "mean_difference": float(diffs.mean()) if len(diffs) else math.nan,
                    "ahead": int((diffs > 0).sum()),
                    "p_value": p_value,
                }
            )
    return pd.DataFrame(rows)


def curve_table(rounds: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Mean and sample std over seeds of each metric, per strategy and labelled-set size."""
    grouped = rounds.groupby(["strategy", X], sort=True)[list(metrics)]
    table = grouped.mean().add_suffix(" mean").join(grouped.std(ddof=1).add_suffix(" std"))
    return table.join(grouped.size().rename("runs")).reset_index()


def plot_curves(curves: pd.DataFrame, path: Path, metrics: tuple[str, ...] = METRICS) -> Path:
    """One panel per metric; each strategy a mean line with a ± std band over seeds."""
    fig = Figure(figsize=(4.6 * len(metrics), 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for strategy, group in curves.groupby("strategy", sort=True):
            x = group[X].to_numpy()
            mean = group[f"{metric} mean"].to_numpy(float)
            std = np.nan_to_num(group[f"{metric} std"].to_numpy(float))
            ax.plot(x, mean, marker="o", markersize=3, label=strategy)
            ax.fill_between(x, mean - std, mean + std, alpha=0.2)
        ax.set_xlabel("labelled rows")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)


def _cell(mean: float, std: float) -> str:
    return "–" if math.isnan(mean) else f"{mean:.4f} ± {'–' if math.isnan(std) else f'{std:.4f}'}"


def markdown(
    summary: pd.DataFrame,
    per_run: pd.DataFrame,
    metrics: tuple[str, ...] = METRICS,
    paired: pd.DataFrame | None = None,
) -> str:
    header = ["strategy", "runs", *(f"AULC {m}" for m in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.sort_values(f"{metrics[0]} mean", ascending=False).iterrows():
        cells = [_cell(row[f"{m} mean"], row[f"{m} std"]) for m in metrics]
        lines.append(f"| {row['strategy']} | {row['runs']} | " + " | ".join(cells) + " |")
    seeds = ", ".join(str(s) for s in sorted(per_run["seed"].unique()))
    text = (
        "# Active learning: area under the learning curve\n\n"
        "Normalised AULC (trapezoidal area under metric vs labelled rows, divided by the "
        f"labelled range), mean ± sample std over seeds {seeds}.\n\n" + "\n".join(lines) + "\n"
    )
    if paired is not None and len(paired):
        text += _paired_markdown(paired, metrics)
    return text


def _paired_markdown(paired: pd.DataFrame, metrics: tuple[str, ...]) -> str:
    reference = paired["reference"].iloc[0]
    header = ["strategy", *(f"Δ AULC {m}" for m in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for strategy, group in paired.groupby("strategy", sort=True):
        cells = []
        for metric in metrics:
            row = group[group["metric"] == metric].iloc[0]
            p = "–" if math.isnan(row["p_value"]) else f"{row['p_value']:.3f}"
            cells.append(
                f"{row['mean_difference']:+.4f} (ahead {row['ahead']}/{row['pairs']}, p {p})"
            )
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return (
        f"\n## Paired against {reference}\n\n"
        f"AULC minus {reference}'s AULC in the run with the same seed (same pool, same initial "
        "set); mean over seeds, seeds where the strategy is ahead, paired t-test p-value.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def write_report(
    folders: list[Path],
    out: Path | None = None,
    metrics: tuple[str, ...] = METRICS,
    reference: str = "random",
) -> str:
    """Read every rounds.csv under ``folders`` and write the ``OUTPUTS`` into ``out`` (default:
    the first folder); returns the markdown report."""
    rounds = load_rounds(find_rounds_files(folders))
    missing = [m for m in metrics if m not in rounds.columns]
    if missing:
        raise TextlabError(f"--metrics {missing} are not rounds.csv columns")
    out = Path(out or folders[0])
    out.mkdir(parents=True, exist_ok=True)
    per_run = aulc_per_run(rounds, metrics)
    summary = aulc_summary(per_run, metrics)
    curves = curve_table(rounds, metrics)
    paired = paired_vs_reference(per_run, reference, metrics)
    text = markdown(summary, per_run, metrics, paired)
    (out / "active_report.md").write_text(text)
    per_run.to_csv(out / "aulc.csv", index=False)
    summary.to_csv(out / "aulc_summary.csv", index=False)
    paired.to_csv(out / "aulc_paired.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    plot_curves(curves, out / "learning_curves.png", metrics)
    return text
