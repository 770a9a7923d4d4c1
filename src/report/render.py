"""Render a comparison as text: the markdown report and the paper table (markdown and LaTeX)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from src.report.comparison import (
    CONFIRMATORY,
    EXPLORATORY,
    METRICS,
    PairedDifference,
    PrimaryMetric,
    family_sizes,
)
from src.report.statistics import MIN_SEEDS


def _num(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _interval(low: float, high: float) -> str:
    return "–" if math.isnan(low) else f"[{_num(low, sign=True)}, {_num(high, sign=True)}]"


def shown_interval(diff: PairedDifference) -> tuple[float, float, str]:
    """The interval a reader is shown in one number pair: the bootstrap over seeds and test
    examples where the runs had predictions, else the t-interval over seeds."""
    if not math.isnan(diff.boot_low):
        return diff.boot_low, diff.boot_high, "bootstrap over seeds and test examples"
    return diff.t_low, diff.t_high, "t-interval over seeds (test set fixed)"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(
    summary: pd.DataFrame, metrics: Sequence[str] = METRICS, factor: str = "pooling"
) -> str:
    header = ["cell", factor, "runs", "failed", "not finished", *metrics]
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


def differences_table(
    diffs: Sequence[PairedDifference], level: float = 0.95, factor: str = "pooling"
) -> str:
    pct = f"{level:.0%}"
    header = [
        "cell",
        factor,
        "metric",
        "seeds",
        "difference per seed",
        "mean diff",
        "ahead in",
        "paired t",
        "p",
        "p (Holm)",
        f"{pct} t-interval (seeds)",
        f"{pct} bootstrap (seeds × test rows)",
    ]
    rows = [
        [
            f"`{d.cell}`",
            f"{d.treatment} − {d.control}",
            d.metric,
            ",".join(d.seeds),
            ", ".join(f"{x:+.4f}" for x in d.differences),
            _num(d.mean, sign=True),
            f"{d.ahead} of {len(d.differences)}",
            _num(d.t_statistic, 2),
            _num(d.p_value, 3),
            _num(d.p_holm, 3),
            _interval(d.t_low, d.t_high),
            _interval(d.boot_low, d.boot_high),
        ]
        for d in diffs
    ]
    notes = sorted({note for d in diffs for note in d.notes})
    return markdown_table(header, rows) + "".join(f"\n\n- {note}" for note in notes)


def failures_table(runs: pd.DataFrame, factor: str = "pooling") -> str:
    failed = runs[runs["status"] != "success"]
    if failed.empty:
        return "No failed runs."
    rows = [
        [r["job"], f"`{r['cell']}`", r["pooling"], str(r["seed"]), r["status"], r["error"]]
        for _, r in failed.iterrows()
    ]
    return markdown_table(["job", "cell", factor, "seed", "status", "error"], rows)


def statistics_note(
    diffs: Sequence[PairedDifference],
    primary: PrimaryMetric,
    control: str,
    level: float,
    factor: str = "pooling",
) -> str:
    """What was tested, the two families, the intervals, in a few lines."""
    sizes = family_sizes(diffs)
    on_test = primary.metric.startswith("test/")
    lines = [
        f"Each {factor} − `{control}` per seed (same split and initial seed). Primary metric "
        f"`{primary.metric}` (from {primary.source}): its {sizes[CONFIRMATORY]} comparisons are "
        "the confirmatory family, Holm-corrected together. Every other metric is exploratory: "
        f"its {sizes[EXPLORATORY]} comparisons are Holm-corrected as a second family; read them "
        "as leads, not findings.",
        f"p: paired t-test over seeds, the test set held fixed. {level:.0%} intervals of the mean "
        "difference: the t-interval over seeds, and a paired bootstrap that resamples seeds and, "
        "within each resample, the test rows (the same rows for both arms and every seed), "
        "so test-set sampling is inside it."
        if on_test
        else f"p: paired t-test over seeds, the validation rows held fixed. {level:.0%} "
        "intervals of the mean difference: the t-interval over seeds (the runs keep "
        "per-example predictions of the test split alone, so no bootstrap over rows).",
    ]
    if any(len(d.differences) < MIN_SEEDS for d in diffs):
        lines.append(
            f"Comparisons with fewer than {MIN_SEEDS} paired seeds are descriptive only (no "
            "p-value, no interval): a t-test on 1 degree of freedom and an interval spanned by "
            "two values say little."
        )
    tested = [d for d in diffs if d.tested]
    if on_test and tested and all(math.isnan(d.boot_low) for d in tested):
        lines.append(
            "**The intervals are over seeds only:** the runs have no per-example test "
            "predictions (`predictions.npz`), so test-set sampling is not in them."
        )
    return "\n\n".join(lines)


def report_markdown(
    title: str,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    diffs: Sequence[PairedDifference],
    metrics: Sequence[str],
    primary: PrimaryMetric,
    duplicates: Sequence[str] = (),
    control: str = "cls",
    level: float = 0.95,
    factor: str = "pooling",
    own: dict[str, str] | None = None,
) -> str:
    """The whole report; ``factor``: what is compared (``pooling``, or a swept override);
    ``own``: each arm's own setting (``arm -> "key=value"``), named under the title."""
    confirmatory = [d for d in diffs if d.family == CONFIRMATORY]
    exploratory = [d for d in diffs if d.family == EXPLORATORY]
    parts = [f"# {title}"]
    if own:
        recipe = "; ".join(f"`{arm}` {value}" for arm, value in sorted(own.items()))
        parts.append(f"Each arm at its own setting: {recipe}.")
    if duplicates:
        parts.append(
            "**Warning: the same configuration and seed ran more than once; one job of each "
            "is kept (the latest that finished), so every table counts it once:**\n\n"
            + "\n".join(f"- {line}" for line in duplicates)
        )
    parts += [
        f"## Mean ± std over seeds ({primary.metric.split('/')[0]} split)",
        summary_table(summary, metrics, factor),
        "## Paper table",
        paper_table_markdown(summary, diffs, primary.metric, control, factor),
        f"## Paired differences: each {factor} − {control}",
    ]
    if not diffs:
        parts.append(f"No cell has another {factor} and `{control}` with a common seed.")
    else:
        parts.append(statistics_note(diffs, primary, control, level, factor))
        parts += [
            f"### Confirmatory: `{primary.metric}`",
            differences_table(confirmatory, level, factor)
            if confirmatory
            else f"No comparison on `{primary.metric}`: the runs do not hold it.",
        ]
        if exploratory:
            parts += ["### Exploratory", differences_table(exploratory, level, factor)]
    parts += ["## Failed runs", failures_table(runs, factor)]
    return "\n\n".join(parts) + "\n"


def _paper_rows(
    summary: pd.DataFrame, diffs: Sequence[PairedDifference], primary: str, control: str
) -> list[tuple[str, pd.DataFrame, dict[str, PairedDifference]]]:
    """Per cell: its summary rows (reference first, then by mean difference on the primary
    metric, best first) and its confirmatory differences by pooling."""
    cells = []
    for cell, group in summary.groupby("cell", sort=True):
        by_pooling = {d.treatment: d for d in diffs if d.cell == cell and d.metric == primary}
        order = sorted(
            group["pooling"],
            key=lambda p: (p != control, -by_pooling[p].mean if p in by_pooling else math.inf),
        )
        cells.append((cell, group.set_index("pooling").loc[order], by_pooling))
    return cells


def _n_seeds(row: pd.Series) -> int:
    return int(row["runs"] - row["failed"] - row["not finished"])


def _mean_std(row: pd.Series, metric: str) -> str:
    return f"{_num(row[f'{metric} mean'])} ± {_num(row[f'{metric} std'])}"


def paper_table_markdown(
    summary: pd.DataFrame,
    diffs: Sequence[PairedDifference],
    primary: str,
    control: str = "cls",
    factor: str = "pooling",
) -> str:
    """Per arm (pooling): seeds, mean ± std of the primary metric, its difference from ``control``
    with the shown interval, and the Holm-corrected p over the confirmatory family."""
    if summary.empty or f"{primary} mean" not in summary:
        return f"No run holds `{primary}`."
    parts = []
    for cell, rows, by_pooling in _paper_rows(summary, diffs, primary, control):
        table = []
        for pooling, row in rows.iterrows():
            diff = by_pooling.get(pooling)
            low, high, _ = shown_interval(diff) if diff else (math.nan, math.nan, "")
            table.append(
                [
                    pooling,
                    str(_n_seeds(row)),
                    _mean_std(row, primary),
                    _num(diff.mean, sign=True) if diff else "–",
                    _interval(low, high),
                    _num(diff.p_holm, 3) if diff else "–",
                ]
            )
        header = [factor, "seeds", f"{primary} (mean ± std)", f"Δ vs {control}", "95% CI"]
        parts.append(f"`{cell}`\n\n" + markdown_table([*header, "p (Holm)"], table))
    return "\n\n".join(parts)


def _tex(text: str) -> str:
    return text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%")


def _tex_num(value: float, digits: int = 4) -> str:
    text = _num(value, digits)
    return "--" if text == "–" else f"${text}$"


def _tex_mean_std(row: pd.Series, metric: str) -> str:
    mean, std = row[f"{metric} mean"], row[f"{metric} std"]
    if math.isnan(mean):
        return "--"
    return f"${_num(mean)}$" if math.isnan(std) else f"${_num(mean)} \\pm {_num(std)}$"


def paper_table_latex(
    summary: pd.DataFrame,
    diffs: Sequence[PairedDifference],
    primary: str,
    metrics: Sequence[str],
    control: str = "cls",
    level: float = 0.95,
    factor: str = "pooling",
) -> str:
    """A booktabs table per cell: mean ± std per arm (pooling) on every metric, and the primary
    metric's difference from ``control`` with its interval and Holm-corrected p."""
    tables = []
    for cell, rows, by_pooling in _paper_rows(summary, diffs, primary, control):
        kinds = {shown_interval(d)[2] for d in by_pooling.values() if d.tested}
        interval = " / ".join(sorted(kinds)) or "none (fewer than 3 seeds)"
        n_family = family_sizes(diffs)[CONFIRMATORY]
        pct = _tex(f"{level:.0%}")
        columns = " & ".join(_tex(m.removeprefix("test/")) for m in metrics)
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            r"\begin{tabular}{lr" + "c" * len(metrics) + "cr}",
            r"\toprule",
            f"{_tex(factor.capitalize())} & $n$ & {columns} & "
            f"$\\Delta$ {_tex(primary.removeprefix('test/'))} [{pct} CI] & "
            f"$p_\\mathrm{{Holm}}$ \\\\",
            r"\midrule",
        ]
        for pooling, row in rows.iterrows():
            cells = " & ".join(_tex_mean_std(row, m) for m in metrics)
            diff = by_pooling.get(pooling)
            if diff is None:
                delta, p = "--", "--"
            else:
                low, high, _ = shown_interval(diff)
                bounds = (
                    f" $[{_num(low, sign=True)}, {_num(high, sign=True)}]$"
                    if not math.isnan(low)
                    else ""
                )
                delta, p = f"${_num(diff.mean, sign=True)}${bounds}", _tex_num(diff.p_holm, 3)
            lines.append(f"{_tex(pooling)} & {_n_seeds(row)} & {cells} & {delta} & {p} \\\\")
        scores = "Test" if primary.startswith("test/") else "Validation"
        caption = (
            f"{scores} scores, mean $\\pm$ sample std over seeds ({_tex(cell)}). $\\Delta$: mean "
            f"paired difference from {_tex(control)} on {_tex(primary)}, with its {pct} "
            f"{_tex(interval)}; $p_\\mathrm{{Holm}}$: paired $t$-test over seeds, Holm-corrected "
            f"over the {n_family} confirmatory comparisons."
        )
        lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{caption}}}", r"\end{table}"]
        tables.append("\n".join(lines))
    return "\n\n".join(tables) + "\n"
