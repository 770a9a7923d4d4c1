"""Print the results table of the latest token_vua and token_wnut17 runs (base vs tuned).

.venv/bin/python experiments/token_tasks/table.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("f1", "precision", "recall")


def latest_metrics(task: str) -> tuple[Path, dict]:
    runs = sorted((ROOT / "logs" / task / "runs").glob("*/metrics.json"))
    if not runs:
        raise SystemExit(
            f"no finished run under logs/{task}/runs; run experiments/token_tasks/run.sh"
        )
    return runs[-1].parent, json.loads(runs[-1].read_text())


def main() -> None:
    print("| data | run | model | test F1 | precision | recall | wall time |")
    print("|---|---|---|---|---|---|---|")
    for task, name in (
        ("token_vua", "VUA metaphor (word F1)"),
        ("token_wnut17", "WNUT-17 (entity F1)"),
    ):
        run_dir, summary = latest_metrics(task)
        m = summary["metrics"]
        base = [m.get(f"base/test/{k}") for k in KEYS]
        tuned = [m.get(f"test/{k}") for k in KEYS]
        fmt = " | ".join("-" if v is None else f"{v:.3f}" for v in base)
        print(f"| {name} | {run_dir.name} | MiniLM, untrained head | {fmt} | |")
        fmt = " | ".join(f"{v:.3f}" for v in tuned)
        print(
            f"| {name} | {run_dir.name} | MiniLM fine-tuned | {fmt} | {summary['wall_time_s']} s |"
        )


if __name__ == "__main__":
    main()
