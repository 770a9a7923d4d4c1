"""Print the baseline results tables (markdown) from the run folders `run.sh` leaves.

.venv/bin/python experiments/baselines/make_tables.py [logs/baseline/runs/measure]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = {
    "multilabel": ["auc_macro", "f1_macro", "f1_micro", "tuned/f1_macro", "tuned/f1_micro"],
    "multiclass": ["accuracy", "f1_macro", "f1_weighted"],
    "token": ["precision", "recall", "f1", "accuracy"],
}
DATA = ["emotion", "wnut17", "vua_metaphor", "jigsaw", "goemotions"]


def _runs(root: Path) -> list[tuple[str, str, dict]]:
    """(data name, baseline label, metrics.json) of every run under <root>/<data>/<name>/."""
    found = []
    for path in sorted(root.glob("*/*/metrics.json")):
        data, name = path.parent.parent.name, path.parent.name
        label = {"frozen_lr": "frozen_lr (cls)", "frozen_mean": "frozen_lr (mean)"}.get(name, name)
        found.append((data, label, json.loads(path.read_text())))
    return found


def tables(root: Path) -> str:
    lines = []
    runs = _runs(root)
    for data in DATA:
        rows = [(label, s) for d, label, s in runs if d == data]
        if not rows:
            continue
        task = rows[0][1].get("task", "multilabel")
        cols = COLUMNS[task]
        sizes = rows[0][1].get("rows", {})
        lines += [
            f"### {data} ({task}; train/val/test {sizes.get('train')}/{sizes.get('val')}/"
            f"{sizes.get('test')})",
            "",
            "| baseline | " + " | ".join(f"test {c}" for c in cols) + " | wall s |",
            "|---|" + "---:|" * (len(cols) + 1),
        ]
        for label, summary in rows:
            if summary.get("status") != "success":
                lines.append(f"| {label} | failed: {summary.get('error')} |")
                continue
            values = [summary["metrics"].get(f"test/{c}") for c in cols]
            cells = " | ".join("-" if v is None else f"{v:.4f}" for v in values)
            lines.append(f"| {label} | {cells} | {summary.get('wall_time_s')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(tables(Path(sys.argv[1] if len(sys.argv) > 1 else "logs/baseline/runs/measure")))
