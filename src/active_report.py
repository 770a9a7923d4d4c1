"""`python -m src.active_report <run or multirun folders...> [--out DIR]`.

Learning curves (metric vs labelled rows, mean ± std over seeds, strategies overlaid) and the
normalised area under each, and each strategy's AULC paired seed by seed against a reference
strategy (--reference, default random): writes `active_report.md`, `aulc.csv` (per run),
`aulc_summary.csv`, `aulc_paired.csv`, `curves.csv` and `learning_curves.png` into --out
(default: the first folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src.active.report import (
    METRICS,
    aulc_per_run,
    aulc_summary,
    curve_table,
    find_rounds_files,
    load_rounds,
    markdown,
    paired_vs_reference,
    plot_curves,
)
from src.utils.errors import TextlabError
from src.utils.user_errors import report_user_errors


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m src.active_report", description=__doc__)
    parser.add_argument("folders", type=Path, nargs="+", help="run or multirun folders")
    parser.add_argument("--out", type=Path, default=None, help="default: the first folder")
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), help="rounds.csv columns")
    parser.add_argument("--reference", default="random", help="strategy the others are paired with")
    args = parser.parse_args(argv)
    with report_user_errors():
        rounds = load_rounds(find_rounds_files(args.folders))
        missing = [m for m in args.metrics if m not in rounds.columns]
        if missing:
            raise TextlabError(f"--metrics {missing} are not rounds.csv columns")
    metrics = tuple(args.metrics)
    out = args.out or args.folders[0]
    out.mkdir(parents=True, exist_ok=True)
    per_run = aulc_per_run(rounds, metrics)
    summary = aulc_summary(per_run, metrics)
    curves = curve_table(rounds, metrics)
    paired = paired_vs_reference(per_run, args.reference, metrics)
    text = markdown(summary, per_run, metrics, paired)
    (out / "active_report.md").write_text(text)
    per_run.to_csv(out / "aulc.csv", index=False)
    summary.to_csv(out / "aulc_summary.csv", index=False)
    paired.to_csv(out / "aulc_paired.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    plot_curves(curves, out / "learning_curves.png", metrics)
    print(text)
    print(
        f"written: {out}/active_report.md, aulc.csv, aulc_summary.csv, aulc_paired.csv, "
        "curves.csv, learning_curves.png"
    )
    return text


if __name__ == "__main__":
    main()
