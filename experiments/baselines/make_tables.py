"""The baselines' per-run rows and the tables made from them.

.venv/bin/python experiments/baselines/make_tables.py collect [logs/baseline/runs/measure]
    # one row per run folder <root>/<data>/<baseline>/ -> experiments/baselines/runs.csv
.venv/bin/python experiments/baselines/make_tables.py
    # the README's tables, from the committed experiments/baselines/runs.csv
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from src.report.runs import load_runs

HERE = Path(__file__).resolve().parent
ROWS = HERE / "runs.csv"
COLUMNS = {
    "multilabel": ["auc_macro", "f1_macro", "f1_micro", "tuned/f1_macro", "tuned/f1_micro"],
    "multiclass": ["accuracy", "f1_macro", "f1_weighted"],
    "token": ["precision", "recall", "f1", "accuracy"],
}
DATA = ["emotion", "wnut17", "vua_metaphor", "jigsaw", "goemotions"]
LABEL = {"frozen_lr": "frozen_lr (cls)", "frozen_mean": "frozen_lr (mean)"}


def collect(root: Path) -> pd.DataFrame:
    """One row per run folder ``<root>/<data>/<name>/``: data, baseline, task and split sizes,
    then the run's provenance and metrics (``src.report.runs.load_runs``)."""
    rows = []
    for folder in sorted(p.parent.parent for p in root.glob("*/*/.hydra/overrides.yaml")):
        summary = json.loads((folder / "metrics.json").read_text())
        sizes = summary.get("rows") or {}
        about = {
            "data": folder.parent.name,
            "baseline": LABEL.get(folder.name, folder.name),
            "task": summary.get("task", ""),
            **{f"rows_{split}": sizes.get(split, "") for split in ("train", "val", "test")},
        }
        run = load_runs(folder).drop(columns=["job", "cell", "pooling", "run_dir", "finished"])
        rows.append({**about, **run.iloc[0].to_dict()})
    if not rows:
        raise SystemExit(f"no run folders under {root}/<data>/<baseline>/; run run.sh first")
    return pd.DataFrame(rows)


def tables(rows: pd.DataFrame) -> str:
    lines = []
    for data in DATA:
        runs = rows[rows["data"] == data]
        if runs.empty:
            continue
        first = runs.iloc[0]
        cols = COLUMNS[first["task"]]
        sizes = "/".join(str(first[f"rows_{s}"]) for s in ("train", "val", "test"))
        lines += [
            f"### {data} ({first['task']}; train/val/test {sizes})",
            "",
            "| baseline | " + " | ".join(f"test {c}" for c in cols) + " | wall s |",
            "|---|" + "---:|" * (len(cols) + 1),
        ]
        for _, run in runs.iterrows():
            if run["status"] != "success":
                lines.append(f"| {run['baseline']} | failed: {run['error']} |")
                continue
            values = [run.get(f"test/{c}") for c in cols]
            cells = " | ".join("-" if pd.isna(v) else f"{v:.4f}" for v in values)
            lines.append(f"| {run['baseline']} | {cells} | {run['wall_time_s']} |")
        lines.append("")
    commits = ", ".join(sorted(str(c)[:10] for c in rows["git_commit"].dropna().unique()))
    machines = "; ".join(sorted(str(m) for m in rows["machine"].dropna().unique()))
    lines.append(f"Rows: `experiments/baselines/runs.csv` (commits {commits}; {machines}).")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["collect"]:
        root = Path(sys.argv[2] if len(sys.argv) > 2 else "logs/baseline/runs/measure")
        collect(root).to_csv(ROWS, index=False)
        print(f"written: {ROWS}")
    else:
        print(tables(pd.read_csv(ROWS, dtype={"git_commit": str})))
