"""Each arm's own recipe, chosen on validation: for every pooling of a selection sweep, the
value of one swept override (the learning rate) with the best mean selection metric over the
selection seeds. Ties go to the smaller value. A value is eligible only when every selection
seed of the sweep finished for it, so a missing run cannot win by leaving out a bad seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.errors import TextlabError
from src.report.runs import cell_overrides


@dataclass(frozen=True)
class Selection:
    """Per (pooling, value): seeds, their scores, mean; and each pooling's chosen value."""

    table: pd.DataFrame
    chosen: dict[str, str]
    by: str
    metric: str
    seeds: list[str]


def _sort_key(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def select_per_arm(runs: pd.DataFrame, by: str, metric: str) -> Selection:
    """The value of ``by`` each pooling scores best at on ``metric`` (mean over seeds)."""
    values = [cell_overrides(cell).get(by) for cell in runs["cell"]]
    if any(value is None for value in values):
        swept = sorted({k for c in runs["cell"] for k in cell_overrides(c)})
        raise TextlabError(
            f"select={by}: not every run sets it (the runs vary {swept or 'nothing'}); "
            "select a swept override"
        )
    runs = runs.assign(_value=values)
    ok = runs[runs["status"] == "success"]
    if metric not in ok or ok[metric].isna().all():
        found = sorted(c for c in ok.columns if c.startswith(("val/", "test/")))[:12]
        raise TextlabError(f"no run has {metric}; the runs have {found}")
    seeds = sorted({str(s) for s in runs["seed"]}, key=_sort_key)
    rows = []
    for (pooling, value), group in runs.groupby(["pooling", "_value"], sort=False):
        done = group[(group["status"] == "success") & group[metric].notna()]
        scores = {str(s): float(v) for s, v in zip(done["seed"], done[metric], strict=True)}
        rows.append(
            {
                "pooling": pooling,
                by: value,
                "seeds": len(scores),
                "mean": float(np.mean(list(scores.values()))) if scores else float("nan"),
                **{f"seed {seed}": scores.get(seed, float("nan")) for seed in seeds},
                "eligible": set(scores) == set(seeds),
            }
        )
    table = pd.DataFrame(rows)
    table = table.iloc[
        sorted(range(len(table)), key=lambda i: (table["pooling"][i], _sort_key(table[by][i])))
    ].reset_index(drop=True)
    chosen: dict[str, str] = {}
    for pooling, group in table.groupby("pooling", sort=True):
        eligible = group[group["eligible"]]
        if eligible.empty:
            continue
        best = eligible["mean"].max()
        ties = [v for v, m in zip(eligible[by], eligible["mean"], strict=True) if m == best]
        chosen[str(pooling)] = min(ties, key=_sort_key)
    table["chosen"] = [
        chosen.get(str(p)) == v for p, v in zip(table["pooling"], table[by], strict=True)
    ]
    return Selection(table, chosen, by, metric, seeds)


def selection_markdown(selection: Selection, title: str) -> str:
    """The selection table (every value of every pooling, per seed) and the choices."""
    by, metric, table = selection.by, selection.metric, selection.table
    seed_columns = [f"seed {seed}" for seed in selection.seeds]
    lines = [
        f"# {title}",
        "",
        f"Each pooling's `{by}` chosen on `{metric}`: the best mean over the selection seeds "
        f"({', '.join(selection.seeds)}); ties go to the smaller value; a value is eligible only "
        "when every selection seed finished for it. The test split is not read.",
        "",
        f"| pooling | {by} | {' | '.join(seed_columns)} | mean | chosen |",
        "|---|---|" + "---|" * len(seed_columns) + "---|---|",
    ]
    for row in table.to_dict("records"):
        scores = " | ".join("-" if pd.isna(row[c]) else f"{row[c]:.4f}" for c in seed_columns)
        mean = "-" if pd.isna(row["mean"]) else f"{row['mean']:.4f}"
        mark = "**chosen**" if row["chosen"] else ("" if row["eligible"] else "incomplete")
        lines.append(f"| {row['pooling']} | {row[by]} | {scores} | {mean} | {mark} |")
    lines += ["", "Chosen:", ""]
    poolings = sorted(set(table["pooling"]))
    for pooling in poolings:
        value = selection.chosen.get(str(pooling))
        lines.append(f"- `{pooling}`: " + (f"`{by}={value}`" if value else "none (incomplete)"))
    return "\n".join(lines) + "\n"
