"""`python -m src.compare sweep=<multirun folder> [out=DIR] [title=...] [primary=METRIC]`:
compare the poolings of a sweep over seeds, each against the reference pooling (``cls``) paired
by seed, on the headline test metrics of the sweep's task. ``by=<swept override>
reference=<its value>`` compares the values of any other swept override instead
(``by=data.bucketing.enabled reference=false``).

The primary metric (the data config's ``primary_metric``, or ``primary=``) is the confirmatory
family, Holm-corrected; the other metrics are exploratory (a second Holm family). Comparisons
with fewer than 3 paired seeds are descriptive only. Intervals: a t-interval over seeds, and a
bootstrap over seeds and test examples where every paired run wrote ``predictions.npz``.

Choosing each arm's recipe on validation: ``select=model.optimizer.lr split=val`` writes
``selection.md`` (every value of the override for every pooling, per seed, and each pooling's
value with the best mean on the validation primary metric) instead of a comparison. Comparing
the arms at their chosen values: ``own=[model.optimizer.lr]`` leaves that override out of the
cells, so arms run at different values still pair by seed, and names each arm's value.

``sweep=[<folder>,<folder>]`` compares the jobs of several sweeps as one (job names then carry
their folder's name); a configuration and seed that ran more than once is counted once (the
latest finished job), with a warning. ``runs_csv=<runs.csv>`` re-renders an earlier comparison
from the table it wrote, without the run folders (and so with intervals over seeds only).

Writes ``comparison.md``, ``comparison.tex``, ``forest.png``/``.pdf``, ``comparison.png`` (per
seed) and ``runs.csv`` (into the sweep folder unless ``out``) and prints the markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from src.errors import TextlabError, report_user_errors
from src.report.comparison import (
    REFERENCE,
    Resampling,
    comparison_metrics,
    declared_primary,
    paired_differences,
    summarise,
)
from src.report.duplicates import collapse_duplicates
from src.report.figures import plot_forest, plot_per_seed
from src.report.predictions import (
    fixed_threshold_name,
    fixed_threshold_scores,
    load_test_predictions,
)
from src.report.render import paper_table_latex, report_markdown
from src.report.runs import compared_by, load_runs, own_settings
from src.report.selection import select_per_arm, selection_markdown

OUTPUTS = (
    "comparison.md",
    "comparison.tex",
    "forest.png",
    "forest.pdf",
    "comparison.png",
    "runs.csv",
    "selection.md",
)
#: columns of the runs table that only make sense on this machine
LOCAL_COLUMNS = ["run_dir"]


def load_sweeps(folders: Sequence[str | Path]) -> pd.DataFrame:
    """The jobs of one or more multirun folders; with several, ``job`` is ``<folder>/<n>``."""
    if len(folders) == 1:
        return load_runs(folders[0])
    frames = []
    for folder in map(Path, folders):
        runs = load_runs(folder)
        frames.append(runs.assign(job=folder.name + "/" + runs["job"].astype(str)))
    return pd.concat(frames, ignore_index=True)


def load_runs_csv(path: str | Path) -> pd.DataFrame:
    """The runs table an earlier comparison wrote (``runs.csv``)."""
    path = Path(path)
    if not path.is_file():
        raise TextlabError(f"runs_csv={path}: no such file; pass a runs.csv src.compare wrote")
    runs = pd.read_csv(path, dtype={"job": str, "seed": str, "cell": str, "pooling": str})
    missing = {"job", "cell", "pooling", "seed", "status"} - set(runs.columns)
    if missing:
        raise TextlabError(
            f"runs_csv={path}: no column(s) {', '.join(sorted(missing))}; "
            "pass a runs.csv src.compare wrote"
        )
    for column in ("seed", "error"):  # empty cells read as NaN (a float column)
        if column in runs:
            runs[column] = runs[column].astype(object).where(runs[column].notna(), "")
    return runs


def _predictions(runs: pd.DataFrame) -> dict:
    """job -> test predictions, for the successful runs whose folder has them."""
    held = {}
    for job, run_dir, status in zip(
        runs["job"], runs.get("run_dir", [""] * len(runs)), runs["status"], strict=True
    ):
        if status == "success" and isinstance(run_dir, str) and run_dir:
            predictions = load_test_predictions(run_dir)
            if predictions is not None:
                held[job] = predictions
    return held


def with_fixed_threshold_scores(
    runs: pd.DataFrame, thresholds: Sequence[float], held: dict
) -> pd.DataFrame:
    """The runs with test F1 at each fixed threshold (``test/at_0.3/f1_macro``) computed from
    the predictions ``held`` (job -> its test predictions); rows read from a runs.csv keep what
    it holds."""
    if not thresholds:
        return runs
    extra = {job: fixed_threshold_scores(p, thresholds) for job, p in held.items()}
    if not any(extra.values()):
        return runs
    columns = pd.DataFrame.from_dict(extra, orient="index")
    joined = runs.drop(columns=[c for c in columns if c in runs]).join(columns, on="job")
    for column in columns:  # a row without predictions keeps the value it was read with
        if column in runs:
            joined[column] = joined[column].fillna(runs[column])
    return joined


def compare(
    sweep: str | Path | Sequence[str | Path] | None = None,
    out: str | Path | None = None,
    title: str | None = None,
    primary: str | None = None,
    reference: str = REFERENCE,
    resamples: int = 1000,
    level: float = 0.95,
    runs_csv: str | Path | None = None,
    by: str = "pooling",
    split: str = "test",
    fixed_thresholds: Sequence[float] = (),
    select: str | None = None,
    own: Sequence[str] = (),
) -> str:
    """Write the comparison of the jobs of one multirun folder (or several, or a runs.csv), or
    with ``select`` each pooling's choice of that override; returns the markdown."""
    folders = [sweep] if isinstance(sweep, (str, Path)) else list(sweep or [])
    if runs_csv:
        runs, source = load_runs_csv(runs_csv), Path(runs_csv)
        names, out = str(runs_csv), Path(out) if out else source.parent
    elif folders:
        runs, source = load_sweeps(folders), None
        names, out = ", ".join(map(str, folders)), Path(out) if out else Path(folders[0])
    else:
        raise TextlabError(
            "sweep is required: python -m src.compare sweep=logs/<task>/multiruns/<time>"
        )
    if primary and primary.startswith("val/"):
        split = "val"  # a primary metric on validation: the comparison is on validation
    if split not in ("test", "val"):
        raise TextlabError(f"split={split}: compare on test or val")
    if not 0 < level < 1 or resamples < 1:
        raise TextlabError(f"level={level} must be in (0, 1) and resamples={resamples} >= 1")
    if select:
        return write_selection(runs, out, select, title or f"Selection on {names}", primary, source)
    held = _predictions(runs)  # read once: fixed-threshold scores and the bootstrap
    runs = with_fixed_threshold_scores(runs, fixed_thresholds, held)
    if by != "pooling" and reference == REFERENCE:
        raise TextlabError(f"by={by} needs reference=<the value of {by} to compare against>")
    arms, settings = own_settings(compared_by(runs, by), own)
    control = reference if by == "pooling" else f"{by}={reference}"
    if by != "pooling" and control not in set(arms["pooling"]):
        found = ", ".join(sorted(set(arms["pooling"])))
        raise TextlabError(f"reference={reference}: no run has {control}; the runs have {found}")
    out.mkdir(parents=True, exist_ok=True)
    counted, duplicates = collapse_duplicates(arms)
    metrics = comparison_metrics(counted, split)
    if split == "test":  # exploratory columns, after the headline ones
        fixed = (
            fixed_threshold_name(t, m) for t in fixed_thresholds for m in ("f1_macro", "f1_micro")
        )
        metrics = (*metrics, *(m for m in fixed if m in counted and m not in metrics))
    declared = declared_primary(counted, primary, split)
    if declared.metric not in metrics:
        metrics = (declared.metric, *metrics) if declared.metric in counted else metrics
    resampling = Resampling(held, resamples, level)
    diffs = paired_differences(
        counted, control, metrics, primary=declared.metric, resampling=resampling
    )
    summary = summarise(counted, metrics)
    markdown = report_markdown(
        title or f"Comparison of {names}",
        counted,
        summary,
        diffs,
        metrics,
        declared,
        duplicates,
        control,
        level,
        by,
        settings,
    )
    (out / "comparison.md").write_text(markdown)
    (out / "comparison.tex").write_text(
        paper_table_latex(summary, diffs, declared.metric, metrics, control, level, by)
    )
    if diffs:  # nothing paired: no forest (an earlier one would describe other runs)
        plot_forest(diffs, out / "forest.png", declared.metric, control)
    else:
        for stale in ("forest.png", "forest.pdf"):
            (out / stale).unlink(missing_ok=True)
    plot_per_seed(counted, out / "comparison.png", metrics, control)
    if source is None or (out / "runs.csv").resolve() != source.resolve():
        runs.drop(columns=LOCAL_COLUMNS, errors="ignore").to_csv(out / "runs.csv", index=False)
    for line in duplicates:
        print(f"warning: duplicate run: {line}", flush=True)
    return markdown


def write_selection(
    runs: pd.DataFrame,
    out: Path,
    select: str,
    title: str,
    primary: str | None,
    source: Path | None = None,
) -> str:
    """``selection.md`` and ``runs.csv``: each pooling's value of ``select`` on the validation
    primary metric (a configuration and seed run twice counts once, the latest)."""
    metric = declared_primary(runs, primary, "val").metric
    if not metric.startswith("val/"):
        raise TextlabError(f"primary={metric}: a recipe is chosen on validation (val/...)")
    counted, duplicates = collapse_duplicates(runs)
    markdown = selection_markdown(select_per_arm(counted, select, metric), title)
    out.mkdir(parents=True, exist_ok=True)
    (out / "selection.md").write_text(markdown)
    if source is None or (out / "runs.csv").resolve() != source.resolve():
        runs.drop(columns=LOCAL_COLUMNS, errors="ignore").to_csv(out / "runs.csv", index=False)
    for line in duplicates:
        print(f"warning: duplicate run: {line}", flush=True)
    return markdown


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    with report_user_errors():
        markdown = compare(
            cfg.sweep,
            cfg.out,
            cfg.title,
            cfg.primary,
            cfg.reference,
            int(cfg.resamples),
            float(cfg.level),
            cfg.runs_csv,
            str(cfg.by),
            str(cfg.split),
            [float(t) for t in cfg.fixed_thresholds],
            cfg.select,
            [str(key) for key in cfg.own],
        )
    if cfg.runs_csv:
        out = Path(cfg.out or Path(cfg.runs_csv).parent)
    else:
        out = Path(cfg.out or (cfg.sweep if isinstance(cfg.sweep, str) else cfg.sweep[0]))
    print(markdown)
    written = [str(out / name) for name in OUTPUTS if (out / name).is_file()]
    print("written: " + ", ".join(written), flush=True)


if __name__ == "__main__":
    main()
