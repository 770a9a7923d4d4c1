"""End of training (thresholds, statistics, plots, Aim) and `python -m src.eval` parity."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from src.errors import TextlabError
from src.eval import evaluate_checkpoint
from src.evaluation.plots import PLOT_NAMES
from src.train import train
from tests.conftest import TINY, compose_config, run_module

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, token_cache_dir: Path) -> Path:
    """One tiny run with the Aim logger, shared by the tests of this module."""
    run_dir = tmp_path_factory.mktemp("evaluated") / "run"
    cfg = compose_config("train", [*TINY, "logger=aim"], run_dir, token_cache_dir)
    summary = train(cfg)
    (run_dir / "aim_run_hash").write_text(summary["aim_run_hash"])
    return run_dir


def test_thresholds_json_has_the_shared_format(trained_run: Path) -> None:
    payload = json.loads((trained_run / "thresholds.json").read_text())
    assert set(payload) == {
        "metric",
        "default",
        "thresholds",
        "val_scores",
        "min_positives",
        "kept_default",
    }
    labels = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    assert sorted(payload["thresholds"]) == sorted(labels) == sorted(payload["val_scores"])
    assert all(0.0 <= value <= 1.0 for value in payload["thresholds"].values())
    assert payload["metric"] == "f1" and payload["default"] == 0.5
    # a label with fewer than min_positives validation positives kept the default, and says why
    assert payload["min_positives"] == 10
    for label, reason in payload["kept_default"].items():
        assert payload["thresholds"][label] == 0.5
        assert "positive validation rows" in reason or "no scored" in reason


def test_predictions_npz_pairs_with_the_logged_scores(trained_run: Path) -> None:
    """Per-example test predictions are kept, and recompute the logged test AUC."""
    from src.evaluation.predictions import load_predictions
    from src.tasks.multilabel.metrics import multilabel_scores

    arrays = load_predictions(trained_run)
    assert arrays is not None
    labels = list(arrays["labels"])
    assert arrays["test_probs"].shape == arrays["test_targets"].shape == (120, len(labels))
    assert arrays["test_targets"].dtype == np.int8
    metrics = json.loads((trained_run / "metrics.json").read_text())["metrics"]
    scores = multilabel_scores(arrays["test_probs"], arrays["test_targets"], labels, 0.5)
    assert scores["auc_macro"] == pytest.approx(metrics["test/auc_macro"], abs=1e-5)


def test_statistics_json_records_everything(trained_run: Path) -> None:
    stats = json.loads((trained_run / "statistics.json").read_text())
    for key in ("metrics", "thresholds", "calibration", "evaluation", "seed", "config"):
        assert key in stats, key
    assert stats["seed"] == 42 and stats["git_commit"] and stats["packages"]["torch"]
    assert any(path.endswith("train.csv.gz") for path in stats["data_files"])
    assert stats["config"]["model"]["pooling"] == "cls"
    test = stats["evaluation"]["test"]
    assert {"default", "tuned"} == set(test)
    for key in ("precision/toxic", "recall/toxic", "f1/toxic", "auc/toxic", "f1_micro"):
        assert key in test["tuned"]
    # the 0.5 scores are the ones trainer.test logged for the same checkpoint
    assert test["default"]["f1_macro"] == pytest.approx(stats["metrics"]["test/f1_macro"], abs=1e-6)
    assert test["default"]["auc_macro"] == pytest.approx(
        stats["metrics"]["test/auc_macro"], abs=1e-6
    )
    calibration = stats["calibration"]
    assert set(calibration["temperatures"]) == set(stats["thresholds"]["thresholds"])
    assert 0.0 <= calibration["ece_test"]["macro"] <= 1.0
    assert 0.0 <= calibration["ece_test_scaled"]["macro"] <= 1.0
    # tuning on validation cannot do worse on validation than 0.5
    val = stats["evaluation"]["val"]
    assert val["tuned"]["f1_macro"] >= val["default"]["f1_macro"]


def test_metrics_json_carries_the_f1_at_tuned_thresholds(trained_run: Path) -> None:
    """The run's metrics.json (what src.compare and the results read) has the macro- and
    micro-F1 at the tuned thresholds, as statistics.json's evaluation computed them."""
    metrics = json.loads((trained_run / "metrics.json").read_text())["metrics"]
    stats = json.loads((trained_run / "statistics.json").read_text())
    for split in ("val", "test"):
        for key in ("f1_macro", "f1_micro"):
            expected = stats["evaluation"][split]["tuned"][key]
            assert metrics[f"{split}/tuned/{key}"] == pytest.approx(expected, abs=1e-12)


def test_every_plot_is_a_valid_png(trained_run: Path) -> None:
    stats = json.loads((trained_run / "statistics.json").read_text())
    assert set(stats["plots"]) == set(PLOT_NAMES)
    for name in PLOT_NAMES:
        path = trained_run / "plots" / f"{name}.png"
        assert stats["plots"][name] == f"plots/{name}.png"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100


def _eval_cli(*args: str) -> subprocess.CompletedProcess:
    return run_module("src.eval", *args)


def _assert_scores_equal(left: dict, right: dict) -> None:
    assert set(left) == set(right)
    for key, value in left.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            assert right[key] is None or math.isnan(right[key]), key
        else:
            assert right[key] == pytest.approx(value, abs=1e-6), key


def test_evaluate_checkpoint_equals_numbers_logged_at_the_end_of_training(
    trained_run: Path,
) -> None:
    stats = json.loads((trained_run / "statistics.json").read_text())
    report = evaluate_checkpoint(trained_run / "checkpoints" / "best.ckpt")
    assert set(report["scores"]) == {"default", "tuned"}
    for threshold_set in ("default", "tuned"):
        _assert_scores_equal(
            stats["evaluation"]["test"][threshold_set], report["scores"][threshold_set]
        )
    assert report["ece"] == pytest.approx(stats["calibration"]["ece_test"], abs=1e-6)


@pytest.mark.slow  # a fresh interpreter: ~10-15 s of imports
def test_eval_cli_equals_numbers_logged_at_the_end_of_training(
    trained_run: Path, tmp_path: Path
) -> None:
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    result = _eval_cli(f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "thresholds: tuned per label" in result.stdout
    report = json.loads((tmp_path / "eval.json").read_text())
    stats = json.loads((trained_run / "statistics.json").read_text())
    for threshold_set in ("default", "tuned"):
        _assert_scores_equal(
            stats["evaluation"]["test"][threshold_set], report["scores"][threshold_set]
        )
    assert report["thresholds"] == stats["thresholds"]["thresholds"]


def test_eval_at_a_fixed_threshold_and_on_val(trained_run: Path) -> None:
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    stats = json.loads((trained_run / "statistics.json").read_text())
    fixed = evaluate_checkpoint(ckpt, thresholds=0.5, split="val")
    assert set(fixed["scores"]) == {"default"}
    _assert_scores_equal(stats["evaluation"]["val"]["default"], fixed["scores"]["default"])


def test_eval_errors_are_one_line(trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(TextlabError, match="checkpoint not found"):
        evaluate_checkpoint(tmp_path / "missing.ckpt")
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    with pytest.raises(TextlabError, match="thresholds must be 'tuned' or a number in"):
        evaluate_checkpoint(ckpt, thresholds="best")
    with pytest.raises(TextlabError, match="split must be one of"):
        evaluate_checkpoint(ckpt, split="train")


def test_eval_without_thresholds_file_says_what_to_do(trained_run: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(trained_run, tmp_path / "copy", ignore=shutil.ignore_patterns("aim"))
    (copy / "thresholds.json").unlink()
    with pytest.raises(TextlabError, match="has no tuned thresholds.*use thresholds=0.5"):
        evaluate_checkpoint(copy / "checkpoints" / "best.ckpt")
    (copy / "thresholds.json").write_text('{"thresholds": {"toxic": 0.3}}')
    with pytest.raises(TextlabError, match="not a thresholds file with a threshold for each"):
        evaluate_checkpoint(copy / "checkpoints" / "best.ckpt")


def test_evaluation_can_be_switched_off(make_cfg, tmp_path: Path) -> None:
    summary = train(make_cfg("analyses=false", "debug=fdr"))
    assert not (tmp_path / "run" / "thresholds.json").exists()
    assert not any("/tuned/" in key for key in summary["metrics"])
    assert (tmp_path / "run" / "statistics.json").is_file()  # written by every run


def test_bad_threshold_metric_fails_before_training(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("callbacks.thresholds.metric=accuracy")
    with pytest.raises(TextlabError, match="callbacks.thresholds.metric must be f1, f2, "):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_analysis_is_logged_to_aim(trained_run: Path) -> None:
    """Params and plots; every score once: one value per (name, context), the 0.5 scores
    training logged not repeated, AUC not repeated at the tuned thresholds."""
    from aim import Repo

    run = Repo(str(trained_run / "aim")).get_run((trained_run / "aim_run_hash").read_text())
    thresholds = json.loads((trained_run / "thresholds.json").read_text())
    assert run["thresholds"] == thresholds
    assert set(run["temperatures"]) == set(thresholds["thresholds"])
    images = {name: ctx for name, ctx, _ in run.iter_sequence_info_by_type("aim.image")}
    assert set(images) == set(PLOT_NAMES)
    image = run.get_image_sequence("reliability", images["reliability"]).values.last_value()
    assert image.to_pil_image().size[0] > 100
    tracked = {(m.name, tuple(sorted(m.context.to_dict().items()))) for m in run.metrics()}
    assert not any("checkpoint" in dict(context) for _, context in tracked)  # scores: params
    best = run["scores", "best"]
    assert set(best) == {"val", "test"}
    assert set(best["test"]) - {"tuned", "temperature"} and set(best["val"]) - {"tuned"}
    test, tuned, scaled = best["test"], best["test"]["tuned"], best["test"]["temperature"]
    assert set(best["val"]["tuned"]) and "temperature" not in best["val"]
    stats = json.loads((trained_run / "statistics.json").read_text())
    at_default = stats["evaluation"]["test"]["default"]
    # training's own test scores, the 0.5 precision/recall and ECE, each once
    assert test["f1_macro"] == pytest.approx(stats["metrics"]["test/f1_macro"])
    assert test["precision_macro"] == pytest.approx(at_default["precision_macro"])
    assert "macro" in test["ece"] and "macro" in scaled["ece"]
    assert "f1_macro" in tuned and not any(n.startswith("auc") for n in tuned)
    assert not any(key.startswith("at_") for key in test)  # 0.5 is the default here


def test_eval_config_composes(make_cfg) -> None:
    cfg = make_cfg("ckpt_path=/runs/x/checkpoints/best.ckpt", name="eval")
    assert (cfg.thresholds, cfg.split, cfg.task_name) == ("tuned", "test", "eval")


def test_metrics_json_says_where_the_time_went(trained_run: Path) -> None:
    """Per-phase wall times, the analyses included, within the run's wall time."""
    from src.train import format_summary

    summary = json.loads((trained_run / "metrics.json").read_text())
    phases = summary["phases_s"]
    assert set(phases) == {"data", "fit", "evaluate", "analyses"}
    assert all(seconds >= 0 for seconds in phases.values())
    assert sum(phases.values()) <= summary["wall_time_s"] + 0.5
    line = format_summary(summary, str(trained_run)).split("wall time:")[1].splitlines()[0]
    assert "(data " in line and ", fit " in line and ", analyses " in line  # in run order
