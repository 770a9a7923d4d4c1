"""Print a baseline's headline numbers: the metrics of its task, val and test side by side."""

from __future__ import annotations

from typing import Any

HEADLINE = {
    "multilabel": ("auc_macro", "f1_macro", "f1_micro", "tuned/f1_macro", "tuned/f1_micro"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted"),
    "token": ("precision", "recall", "f1", "accuracy"),
}


def format_baseline_summary(summary: dict[str, Any], output_dir: str) -> str:
    metrics = summary.get("metrics", {})
    task = summary.get("task", "multilabel")
    lines = [
        "",
        f"baseline {summary.get('baseline')} ({task})",
        f"{'metric':<16}{'val':>10}{'test':>10}",
    ]
    for name in HEADLINE.get(task, ()):
        row = [metrics.get(f"{split}/{name}") for split in ("val", "test")]
        if any(value is not None for value in row):
            cells = "".join(f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in row)
            lines.append(f"{name:<16}{cells}")
    lines.append(f"run folder: {output_dir}")
    lines.append(f"wall time: {summary.get('wall_time_s', 0):.0f} s")
    return "\n".join(lines)
