"""`python -m src.compare <multirun folder> [--out DIR]`: compare configurations over seeds.

Prints and writes `comparison.md` and `comparison.png` (into the folder unless --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src.report.compare import paired_differences, summarise
from src.report.render import plot_comparison, report_markdown
from src.report.runs import load_runs
from src.utils.user_errors import report_user_errors


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m src.compare", description=__doc__)
    parser.add_argument("folder", type=Path, help="a multirun folder: logs/<task>/multiruns/<time>")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: folder)")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    with report_user_errors():
        runs = load_runs(args.folder)
    out = args.out or args.folder
    out.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown(
        args.title or f"Comparison of {args.folder}",
        runs,
        summarise(runs),
        paired_differences(runs),
    )
    (out / "comparison.md").write_text(markdown)
    plot_comparison(runs, out / "comparison.png")
    runs.to_csv(out / "runs.csv", index=False)
    print(markdown)
    print(f"written: {out / 'comparison.md'}, {out / 'comparison.png'}, {out / 'runs.csv'}")
    return markdown


if __name__ == "__main__":
    main()
