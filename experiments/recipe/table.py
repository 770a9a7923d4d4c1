"""The recipe study's table: per (lr, epochs) cell, the mean ± std over seeds of the validation
objective (what the choice is made on) and the test scores, and the lowest macro-F1 at 0.5.

    PYTHONPATH=. python experiments/recipe/table.py logs/recipe_jigsaw/multiruns/<time> \
        > experiments/recipe/study.md
"""

from __future__ import annotations

import sys

from src.report.runs import load_runs

COLUMNS = ("val/auc_macro", "test/auc_macro", "test/f1_macro", "test/f1_micro")


def main(folder: str) -> None:
    runs = load_runs(folder)
    runs = runs[runs["status"] == "success"]
    print("| lr | epochs | seeds | " + " | ".join(COLUMNS) + " | lowest test macro-F1 @0.5 |")
    print("|---|---|---|" + "---|" * (len(COLUMNS) + 1))
    rows = []
    for cell, group in runs.groupby("cell"):
        settings = dict(part.split("=", 1) for part in cell.split())
        lr, epochs = settings.get("model.optimizer.lr"), settings.get("trainer.max_epochs")
        cells = [f"{group[c].mean():.4f} ± {group[c].std(ddof=1):.4f}" for c in COLUMNS]
        rows.append((group["val/auc_macro"].mean(), lr, epochs, len(group), cells, group))
    for _, lr, epochs, seeds, cells, group in sorted(rows, key=lambda r: -r[0]):
        lowest = group["test/f1_macro"].min()
        print(f"| {lr} | {epochs} | {seeds} | " + " | ".join(cells) + f" | {lowest:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1])
