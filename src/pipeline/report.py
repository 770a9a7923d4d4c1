"""Print the final numbers of a run where a person will see them."""

from __future__ import annotations

from typing import Any

HEADLINE = ("auc_macro", "f1_macro", "f1_micro", "loss")


def format_summary(summary: dict[str, Any], output_dir: str) -> str:
    metrics = summary.get("metrics", {})
    lines = ["", f"{'metric':<12}{'val':>10}{'test':>10}"]
    for name in HEADLINE:
        row = [metrics.get(f"{stage}/{name}") for stage in ("val", "test")]
        if any(value is not None for value in row):
            cells = "".join(
                f"{value:>10.4f}" if value is not None else f"{'-':>10}" for value in row
            )
            lines.append(f"{name:<12}{cells}")
    lines.append(f"run folder: {output_dir}")
    if summary.get("best_checkpoint"):
        lines.append(f"best checkpoint: {summary['best_checkpoint']}")
    lines.append(f"wall time: {summary.get('wall_time_s', 0):.0f} s")
    return "\n".join(lines)
