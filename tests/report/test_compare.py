"""`src.compare` on synthetic run folders: exact means, stds, paired test and failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from src.compare import compare, load_sweeps
from src.errors import TextlabError
from src.report.comparison import (
    METRICS,
    comparison_metrics,
    paired_differences,
    summarise,
)
from src.report.figures import distinct_overrides
from src.report.runs import load_runs
from tests.conftest import run_module

CLS = {1: 0.90, 2: 0.92, 3: 0.91}
MEAN = {1: 0.93, 2: 0.94, 3: 0.90}


def make_job(sweep: Path, n: int, overrides: list[str], summary: dict) -> None:
    job = sweep / str(n)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / "metrics.json").write_text(json.dumps(summary))


def ok(auc: float) -> dict:
    return {
        "status": "success",
        "metrics": {"test/auc_macro": auc, "test/f1_macro": auc / 2, "test/f1_micro": auc / 3},
    }


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    n = 0
    for model, values in (("cls_pooler", CLS), ("avg_pooler", MEAN)):
        for seed, auc in values.items():
            make_job(
                tmp_path, n, [f"model={model}", "model.optimizer.lr=5e-5", f"seed={seed}"], ok(auc)
            )
            n += 1
    make_job(
        tmp_path,
        n,
        ["model=avg_pooler", "model.optimizer.lr=5e-5", "seed=4"],
        {"status": "failed", "error": "CUDA out of memory", "metrics": {}},
    )
    return tmp_path


def test_summary_means_stds_and_failure_counts(sweep: Path) -> None:
    summary = summarise(load_runs(sweep)).set_index("pooling")
    assert summary.loc["cls", "runs"] == 3 and summary.loc["cls", "failed"] == 0
    assert summary.loc["mean", "runs"] == 4 and summary.loc["mean", "failed"] == 1
    assert summary.loc["cls", "test/auc_macro mean"] == pytest.approx(0.91)
    assert summary.loc["cls", "test/auc_macro std"] == pytest.approx(0.01)
    assert summary.loc["mean", "test/auc_macro mean"] == pytest.approx(0.923333333)
    assert summary.loc["mean", "test/auc_macro std"] == pytest.approx(
        np.std([0.93, 0.94, 0.90], ddof=1)
    )
    assert summary.loc["cls", "cell"] == "model.optimizer.lr=5e-5"


def test_paired_difference_and_t_test(sweep: Path) -> None:
    diffs = {d.metric: d for d in paired_differences(load_runs(sweep))}
    auc = diffs["test/auc_macro"]
    np.testing.assert_allclose(auc.differences, [0.03, 0.02, -0.01], atol=1e-12)
    assert auc.seeds == ["1", "2", "3"]  # the failed seed 4 has no pair
    assert auc.mean == pytest.approx(0.04 / 3)
    d = np.array([0.03, 0.02, -0.01])
    t = d.mean() / (d.std(ddof=1) / np.sqrt(3))
    assert auc.t_statistic == pytest.approx(t)
    assert auc.p_value == pytest.approx(2 * stats.t.sf(abs(t), df=2))
    half = stats.t.ppf(0.975, df=2) * d.std(ddof=1) / np.sqrt(3)
    assert (auc.t_low, auc.t_high) == pytest.approx((d.mean() - half, d.mean() + half))


def test_compare_writes_markdown_tex_figures_and_csv(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    markdown = compare(sweep, out)
    assert "0.9100 ± 0.0100" in markdown
    assert "+0.0300, +0.0200, -0.0100" in markdown
    assert "CUDA out of memory" in markdown
    assert "**The intervals are over seeds only:**" in markdown  # no predictions.npz
    for figure in ("comparison.png", "forest.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "forest.pdf").read_bytes()[:4] == b"%PDF"
    tex = (out / "comparison.tex").read_text()
    assert r"\begin{tabular}" in tex and r"mean & 4 &" not in tex and r"mean & 3 &" in tex
    assert "run_dir" not in (out / "runs.csv").read_text().splitlines()[0]


def test_a_runs_csv_re_renders_without_the_run_folders(sweep: Path, tmp_path: Path) -> None:
    first = compare(sweep, tmp_path / "first")
    done = run_module(
        "src.compare",
        f"runs_csv={tmp_path / 'first' / 'runs.csv'}",
        f"out={tmp_path / 'again'}",
        "primary=test/f1_micro",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    again = (tmp_path / "again" / "comparison.md").read_text()
    assert "Primary metric `test/f1_micro` (from `primary=` on the command line)" in again
    assert first.split("## Paper table")[0].replace(str(sweep), "") == again.split(
        "## Paper table"
    )[0].replace(str(tmp_path / "first" / "runs.csv"), "")
    with pytest.raises(TextlabError, match="none.csv: no such file"):
        compare(runs_csv=tmp_path / "none.csv")


def test_folder_without_jobs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TextlabError, match="no jobs in"):
        load_runs(tmp_path)


def test_cli_takes_the_sweep_and_says_when_it_is_missing(sweep: Path, tmp_path: Path) -> None:
    done = run_module("src.compare", f"sweep={sweep}", f"out={tmp_path / 'cli'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "cli" / "comparison.md").is_file() and "written:" in done.stdout
    missing = run_module("src.compare")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "error: sweep is required: python -m src.compare sweep=logs/<task>/multiruns/<time>"
    )


def test_sweeps_extended_with_more_seeds_compare_as_one(sweep: Path, tmp_path: Path) -> None:
    more = tmp_path / "more"
    for n, (model, auc) in enumerate((("cls_pooler", 0.95), ("avg_pooler", 0.97))):
        make_job(more, n, [f"model={model}", "model.optimizer.lr=5e-5", "seed=5"], ok(auc))
    done = run_module("src.compare", f"sweep=[{sweep},{more}]", f"out={tmp_path / 'both'}")
    assert done.returncode == 0, done.stderr[-2000:]
    runs = load_runs(sweep)
    diffs = {d.metric: d for d in paired_differences(runs)}
    both = {d.metric: d for d in paired_differences(load_sweeps([sweep, more]))}
    assert both["test/auc_macro"].seeds == ["1", "2", "3", "5"]
    np.testing.assert_allclose(
        both["test/auc_macro"].differences, [*diffs["test/auc_macro"].differences, 0.02]
    )
    written = (tmp_path / "both" / "runs.csv").read_text()
    assert "more/0" in written and f"{sweep.name}/0" in written


def test_the_comparison_shows_the_headline_metrics_of_the_sweeps_task(tmp_path: Path) -> None:
    # a multi-class sweep (emotion): accuracy, macro- and weighted-F1, no AUC
    for n, (model, seed, acc) in enumerate(
        [("cls_pooler", 1, 0.90), ("cls_pooler", 2, 0.92), ("max_pooler", 1, 0.93)]
        + [("max_pooler", 2, 0.91)]
    ):
        metrics = {"test/accuracy": acc, "test/f1_macro": acc - 0.1, "test/f1_weighted": acc}
        make_job(
            tmp_path / "sweep",
            n,
            [f"model={model}", f"seed={seed}"],
            {"status": "success", "metrics": metrics},
        )
    runs = load_runs(tmp_path / "sweep")
    assert comparison_metrics(runs) == ("test/accuracy", "test/f1_macro", "test/f1_weighted")
    markdown = compare(tmp_path / "sweep", tmp_path / "out")
    assert "test/accuracy" in markdown and "test/auc_macro" not in markdown
    diffs = {d.metric: d for d in paired_differences(runs, metrics=comparison_metrics(runs))}
    np.testing.assert_allclose(diffs["test/accuracy"].differences, [0.03, -0.01], atol=1e-12)
    # token taggers lead with F1; multi-label sweeps keep AUC, macro- and micro-F1
    token = pd.DataFrame({"test/f1": [0.7], "test/precision": [0.8], "test/recall": [0.6]})
    assert comparison_metrics(token)[0] == "test/f1"
    assert comparison_metrics(load_runs(_multilabel_sweep(tmp_path / "ml"))) == METRICS


def _multilabel_sweep(folder: Path) -> Path:
    make_job(folder, 0, ["model=cls_pooler", "seed=1"], ok(0.9))
    return folder


def test_figure_ticks_name_what_tells_the_cells_apart() -> None:
    cells = ["experiment=emotion lr=1e-4 epochs=3", "experiment=emotion lr=5e-5 epochs=3"]
    assert distinct_overrides(cells) == ["lr=1e-4", "lr=5e-5"]
    assert distinct_overrides(["default"]) == ["default"]


def test_tuned_threshold_f1_from_statistics_joins_the_comparison(tmp_path: Path) -> None:
    for n, (model, tuned) in enumerate([("cls_pooler", 0.40), ("mean_pooler", 0.43)]):
        make_job(tmp_path, n, [f"model={model}", "seed=1"], ok(0.9))
        statistics = {"evaluation": {"test": {"tuned": {"f1_macro": tuned, "f1_micro": 0.5}}}}
        (tmp_path / str(n) / "statistics.json").write_text(json.dumps(statistics))
    runs = load_runs(tmp_path)
    assert list(runs["test/tuned/f1_macro"]) == [0.40, 0.43]
    assert comparison_metrics(runs) == (*METRICS, "test/tuned/f1_macro", "test/tuned/f1_micro")
    diffs = {d.metric: d for d in paired_differences(runs, metrics=comparison_metrics(runs))}
    assert diffs["test/tuned/f1_macro"].mean == pytest.approx(0.03)


def test_a_token_tagger_sweep_has_no_pooling_to_pair(tmp_path: Path) -> None:
    make_job(tmp_path, 0, ["seed=1"], {"status": "success", "metrics": {"test/f1": 0.7}})
    tagger = {"model": {"_target_": "src.models.module.TokenTagger", "dropout": 0.1}}
    (tmp_path / "0" / "config.yaml").write_text(yaml.safe_dump(tagger))
    runs = load_runs(tmp_path)
    assert list(runs["pooling"]) == ["none"] and paired_differences(runs) == []


# -- any swept override, on validation -----------------------------------------------------------
OFF = {1: 0.950, 2: 0.955, 3: 0.948, 4: 0.951}
ON = {1: 0.949, 2: 0.957, 3: 0.944, 4: 0.950}


@pytest.fixture
def bucketing_sweep(tmp_path: Path) -> Path:
    n = 0
    for enabled, values in (("false", OFF), ("true", ON)):
        for seed, auc in values.items():
            summary = {
                "status": "success",
                "metrics": {"val/auc_macro": auc, "val/f1_macro": auc / 2, "test/auc_macro": 0.5},
            }
            overrides = [f"seed={seed}", f"data.bucketing.enabled={enabled}", "logger=csv"]
            make_job(tmp_path / "sweep", n, overrides, summary)
            n += 1
    return tmp_path / "sweep"


def test_a_swept_override_is_compared_by_seed_on_validation(
    bucketing_sweep: Path, tmp_path: Path
) -> None:
    markdown = compare(
        bucketing_sweep,
        tmp_path / "out",
        by="data.bucketing.enabled",
        reference="false",
        primary="val/auc_macro",
    )
    on, off = (np.array([v[s] for s in sorted(v)]) for v in (ON, OFF))
    expected = stats.ttest_rel(on, off)
    row = next(line for line in markdown.splitlines() if "enabled=true − " in line)
    cells = [c.strip() for c in row.split("|")]
    assert cells[3] == "val/auc_macro" and cells[4] == "1,2,3,4"
    assert cells[6] == f"{(on - off).mean():+.4f}"
    assert cells[9] == f"{expected.pvalue:.3f}"
    assert "## Mean ± std over seeds (val split)" in markdown
    assert "test/auc_macro" not in markdown  # the test split is not read for this choice
    assert "the validation rows held fixed" in markdown
    # the same from the committed rows, with the arm's value as Hydra wrote it
    again = compare(
        runs_csv=tmp_path / "out" / "runs.csv",
        by="data.bucketing.enabled",
        reference="false",
        split="val",
        out=tmp_path / "again",
    )
    assert "`val/auc_macro` (from the task's first headline metric" in again  # split=val
    assert again.split("### Confirmatory")[1] == markdown.split("### Confirmatory")[1]


def test_a_comparison_by_an_override_says_what_is_missing(bucketing_sweep: Path) -> None:
    with pytest.raises(TextlabError, match="by=model.optimizer.lr: .* pass an override the"):
        compare(bucketing_sweep, by="model.optimizer.lr", reference="5e-05")
    with pytest.raises(TextlabError, match="needs reference="):
        compare(bucketing_sweep, by="data.bucketing.enabled")
    with pytest.raises(TextlabError, match="no run has data.bucketing.enabled=maybe"):
        compare(bucketing_sweep, by="data.bucketing.enabled", reference="maybe")


def test_each_row_carries_what_makes_it_traceable(tmp_path: Path) -> None:
    sweep = tmp_path / "2026-12-07_10-00-00_1-a"
    make_job(sweep, 0, ["model=cls_pooler", "seed=1"], {**ok(0.9), "wall_time_s": 12.5})
    info = {"git_commit": "abc123", "machine": {"cpu": "Xeon", "cores": 2, "gpu": None}}
    (sweep / "0" / "run_info.json").write_text(json.dumps(info))
    row = load_runs(sweep).iloc[0]
    assert row["run_id"] == "2026-12-07_10-00-00_1-a/0"
    assert row["overrides"] == "model=cls_pooler seed=1"
    assert (row["git_commit"], row["machine"], row["wall_time_s"]) == (
        "abc123",
        "Xeon, 2 cores",
        12.5,
    )


def test_a_single_runs_folder_is_one_row(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "2026-12-07_10-00-00_1-a"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("[]\n")
    (run / "metrics.json").write_text(json.dumps({**ok(0.97), "wall_time_s": 300.0}))
    (row,) = load_runs(run).to_dict("records")
    assert (row["run_id"], row["cell"], row["overrides"]) == (
        "runs/2026-12-07_10-00-00_1-a",
        "default",
        "",
    )
    assert row["test/auc_macro"] == 0.97 and row["wall_time_s"] == 300.0
