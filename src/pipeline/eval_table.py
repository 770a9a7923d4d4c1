"""The evaluation report of ``python -m src.eval`` as a plain-text table."""

from __future__ import annotations

from typing import Any

METRICS = ("precision", "recall", "f1", "auc")


def _cell(value: float | None) -> str:
    return f"{value:>10.4f}" if value is not None and value == value else f"{'-':>10}"


def format_evaluation(result: dict[str, Any], label_names: list[str]) -> str:
    """One block per threshold set: rows = labels + macro + micro, columns = P / R / F1 / AUC."""
    lines = [f"{result['split']} split, {result['rows']} rows, checkpoint {result['checkpoint']}"]
    for threshold_set, scores in result["scores"].items():
        if threshold_set == "default":
            title = f"thresholds: {result.get('default_threshold', 0.5)} for every label"
        else:
            title = "thresholds: tuned per label on validation (thresholds.json)"
        header = f"{'':<16}" + "".join(f"{m:>10}" for m in METRICS)
        lines += ["", title, header]
        for name in label_names:
            row = "".join(_cell(scores.get(f"{m}/{name}")) for m in METRICS)
            lines.append(f"{name:<16}{row}")
        for average in ("macro", "micro"):
            row = "".join(_cell(scores.get(f"{m}_{average}")) for m in METRICS)
            lines.append(f"{average:<16}{row}")
    ece = result.get("ece", {})
    lines += ["", "ECE " + ", ".join(f"{k}={v:.4f}" for k, v in ece.items() if v == v)]
    return "\n".join(lines)
