"""Baselines: the neural run's splits, untokenised; each baseline scored with the neural metric
code; dummy values that can be worked out by hand; run folder, Aim, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from src.baseline import run_baseline
from src.config import build, build_datamodule
from src.errors import TextlabError
from src.tasks.multiclass.task import MulticlassTask
from src.tasks.multilabel.metrics import multilabel_scores
from src.tasks.multilabel.task import MultilabelTask
from src.tasks.token.task import TokenTask
from tests.conftest import run_module

JIGSAW = ["data=jigsaw_sample", "data.max_train_rows=400", "data.max_test_rows=300"]
GOEMOTIONS = [
    "data=goemotions",
    "data.max_train_rows=600",
    "data.max_val_rows=300",
    "data.max_test_rows=300",
]
SMALL = ["backbone=tiny_bert", "logger=csv", "data.max_length=32"]


@pytest.fixture
def baseline_cfg(make_cfg):
    """``baseline_cfg(*overrides)``: the real baseline config, tiny backbone, CSV logger."""

    def make(*overrides: str):
        return make_cfg(*SMALL, *overrides, name="baseline")

    return make


def _splits(cfg):
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    return datamodule, {s: datamodule.raw_split(s) for s in ("train", "val", "test")}


@pytest.mark.parametrize(
    "data, sizes",
    [(JIGSAW, (360, 40, 300)), (GOEMOTIONS, (600, 300, 300))],
    ids=["jigsaw", "goemotions"],
)
def test_raw_split_is_the_neural_split(baseline_cfg, data: list[str], sizes: tuple) -> None:
    cfg = baseline_cfg(*data)
    datamodule, raw = _splits(cfg)
    datamodule.setup()
    tokenizer = datamodule.tokenizer
    datasets = {
        "train": datamodule.train_dataset,
        "val": datamodule.val_dataset,
        "test": datamodule.test_dataset,
    }
    for split, dataset in datasets.items():
        ids = tokenizer(raw[split].texts, truncation=True, max_length=32)["input_ids"]
        assert ids == [list(row) for row in dataset.input_ids], split
        np.testing.assert_array_equal(raw[split].labels, dataset.labels)
        assert raw[split].label_names == datamodule.label_names
    assert tuple(len(raw[s].texts) for s in ("train", "val", "test")) == sizes
    assert not set(raw["train"].texts) & set(raw["val"].texts)


def test_raw_split_follows_the_unscored_test_rows_setting(baseline_cfg) -> None:
    """Kaggle marks unscored test rows with -1 in every label: dropped unless asked to keep."""
    _, dropped = _splits(baseline_cfg(*JIGSAW))
    assert not (dropped["test"].labels == -1).any()
    datamodule, kept = _splits(baseline_cfg(*JIGSAW, "data.drop_unscored_test_rows=false"))
    datamodule.setup("test")
    assert (kept["test"].labels == -1).all(axis=1).any()
    np.testing.assert_array_equal(kept["test"].labels, datamodule.test_dataset.labels)


def test_raw_split_rejects_an_unknown_split(baseline_cfg) -> None:
    datamodule, _ = _splits(baseline_cfg(*JIGSAW))
    with pytest.raises(TextlabError, match="unknown split 'dev'"):
        datamodule.raw_split("dev")


def _saved_predictions(run: Path, split: str) -> np.ndarray:
    with np.load(run / "predictions.npz") as saved:
        return saved[split]


def test_multilabel_dummy_gives_the_priors(baseline_cfg, tmp_path: Path) -> None:
    # every label tuned, however few its validation positives (min_positives=1)
    cfg = baseline_cfg(*JIGSAW, "baseline=dummy", "thresholds.min_positives=1")
    summary = run_baseline(cfg)
    metrics = summary["metrics"]
    _, raw = _splits(cfg)
    probs = _saved_predictions(tmp_path / "run", "test")
    prevalence = raw["train"].labels.mean(axis=0)
    np.testing.assert_allclose(probs, np.tile(prevalence, (len(probs), 1)), rtol=1e-6)
    for name in raw["test"].label_names:
        if f"test/auc/{name}" in metrics and metrics[f"test/auc/{name}"] is not None:
            assert metrics[f"test/auc/{name}"] == 0.5  # a constant score ranks nothing
        assert metrics[f"test/f1/{name}"] == 0.0  # every prior is below 0.5
    assert metrics["test/auc_macro"] == 0.5
    # tuned on constant probabilities: everything predicted positive, F1 = 2p / (1 + p)
    labels = raw["test"].labels[:, 0]
    p = (labels == 1).sum() / (labels != -1).sum()
    assert metrics["test/tuned/f1/toxic"] == pytest.approx(2 * p / (1 + p))
    run = tmp_path / "run"
    files = ("config.yaml", "run_info.json", "metrics.json", "thresholds.json", "predictions.npz")
    for name in files:
        assert (run / name).is_file(), name
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["status"] == "success" and saved["baseline"] == "dummy"
    assert saved["metrics"]["test/auc_macro"] == 0.5
    assert saved["rows"]["test"] == 300


@pytest.mark.parametrize(
    "overrides",
    [
        ["baseline=tfidf_lr"],
        pytest.param(["baseline=frozen_lr", "baseline.pooling=mean"], marks=pytest.mark.slow),
    ],
    ids=["tfidf_lr", "frozen_mean"],
)
def test_multilabel_baselines_are_scored_by_the_metric_function(
    baseline_cfg, tmp_path: Path, overrides: list[str]
) -> None:
    cfg = baseline_cfg(*JIGSAW, *overrides)
    metrics = run_baseline(cfg)["metrics"]
    _, raw = _splits(cfg)
    names = raw["test"].label_names
    for split in ("val", "test"):
        probs = _saved_predictions(tmp_path / "run", split)
        assert probs.shape == raw[split].labels.shape
        for key, value in multilabel_scores(probs, raw[split].labels, names).items():
            if np.isnan(value):
                assert metrics[f"{split}/{key}"] is None, key
            else:
                assert metrics[f"{split}/{key}"] == pytest.approx(value, abs=1e-9), key
    thresholds = json.loads((tmp_path / "run" / "thresholds.json").read_text())["thresholds"]
    tuned = multilabel_scores(
        _saved_predictions(tmp_path / "run", "test"),
        raw["test"].labels,
        names,
        [thresholds[n] for n in names],
    )
    assert metrics["test/tuned/f1_macro"] == pytest.approx(tuned["f1_macro"], abs=1e-9)
    if overrides == ["baseline=tfidf_lr"]:
        assert metrics["test/auc_macro"] > 0.8  # real text: TF-IDF finds the insults
        probs = _saved_predictions(tmp_path / "run", "test")
        y = raw["test"].labels[:, 0]
        assert metrics["test/auc/toxic"] == pytest.approx(roc_auc_score(y, probs[:, 0]))


def test_frozen_features_are_cached(baseline_cfg, tmp_path: Path) -> None:
    cfg = baseline_cfg(*JIGSAW, "baseline=frozen_lr")
    _, raw = _splits(cfg)
    baseline = build(cfg.baseline)
    task = build(cfg.data.task)
    first = baseline.featurizer(task)
    vectors = first.transform(raw["val"].texts)
    second = baseline.featurizer(task)
    again = second.transform(raw["val"].texts)
    assert first.cache_hits == [False] and second.cache_hits == [True]
    np.testing.assert_array_equal(vectors, again)
    assert vectors.shape == (len(raw["val"].texts), 32)
    assert list(Path(cfg.baseline.cache_dir).glob("*.npy"))
    baseline.pooling = "mean"  # another pooling is another cache entry, other vectors
    mean = baseline.featurizer(task)
    mean_vectors = mean.transform(raw["val"].texts)
    assert not np.allclose(mean_vectors, vectors)
    assert mean.cache_hits == [False]
    # the other parameter-free poolers: [cls ; mean] side by side, the max over real tokens
    baseline.pooling = "cls_mean"
    both = baseline.featurizer(task).transform(raw["val"].texts)
    assert both.shape == (len(raw["val"].texts), 64)
    np.testing.assert_allclose(both, np.concatenate([vectors, mean_vectors], axis=1), atol=1e-6)
    baseline.pooling = "max"
    highest = baseline.featurizer(task).transform(raw["val"].texts)
    assert highest.shape == vectors.shape
    assert (highest >= mean_vectors - 1e-5).all() and not np.allclose(highest, mean_vectors)


@pytest.mark.parametrize("baseline", ["dummy", "tfidf_lr", "frozen_lr"])
def test_baseline_configs_build(baseline_cfg, baseline: str) -> None:
    cfg = baseline_cfg(f"baseline={baseline}")
    built = build(cfg.baseline)
    assert built.name == baseline
    for task in (MultilabelTask(), MulticlassTask(), TokenTask()):
        assert hasattr(built.featurizer(task), "transform")
        assert hasattr(built.estimator(task), "fit")


@pytest.mark.parametrize(
    "override, message",
    [
        ("baseline.C=0", r"baseline.C must be a number > 0, got 0"),
        ("baseline.char_ngrams=[5,2]", r"baseline.char_ngrams must be \[low, high\]"),
        ("baseline.solver=newton", r"baseline.solver must be one of"),
    ],
)
def test_bad_tfidf_settings_are_one_line(baseline_cfg, override: str, message: str) -> None:
    cfg = baseline_cfg("baseline=tfidf_lr", override)
    with pytest.raises(TextlabError, match=message):
        build(cfg.baseline)


def test_liblinear_needs_a_binary_task(baseline_cfg) -> None:
    built = build(baseline_cfg("baseline=tfidf_lr", "baseline.solver=liblinear").baseline)
    assert built.estimator(MultilabelTask()).solver == "liblinear"
    with pytest.raises(TextlabError, match="liblinear fits binary problems only"):
        built.estimator(MulticlassTask())
    auto = build(baseline_cfg("baseline=tfidf_lr").baseline)
    assert auto.estimator(MultilabelTask()).solver == "liblinear"
    assert auto.estimator(MulticlassTask()).solver == "lbfgs"
    assert auto.estimator(TokenTask()).solver == "lbfgs"


FROZEN_POOLERS = r"\['cls', 'mean', 'max', 'cls_mean'\]"


@pytest.mark.parametrize(
    "pooling, message",
    [
        ("attention", rf"baseline.pooling=attention has learned weights, .*{FROZEN_POOLERS}"),
        ("layer_mean", r"baseline.pooling=layer_mean has learned weights"),
        ("nope", rf"baseline.pooling must be one of {FROZEN_POOLERS}, got 'nope'"),
    ],
)
def test_bad_pooling_is_one_line(baseline_cfg, pooling: str, message: str) -> None:
    cfg = baseline_cfg(*JIGSAW, "baseline=frozen_lr", f"baseline.pooling={pooling}")
    with pytest.raises(TextlabError, match=message):
        run_baseline(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("thresholds.metric=f9x", r"thresholds.metric must be f1, f2, .*, got 'f9x'"),
        ("thresholds.default=2", r"thresholds.default must be .*\[0(\.0)?, 1(\.0)?\], got 2"),
        ("sklearn_threads=0", r"sklearn_threads must be an integer >= 1, got 0"),
    ],
)
def test_bad_run_settings_are_one_line(baseline_cfg, override: str, message: str) -> None:
    cfg = baseline_cfg(*JIGSAW, "baseline=dummy", override)
    with pytest.raises(TextlabError, match=message):
        run_baseline(cfg)


def test_thresholds_maximise_the_configured_metric(baseline_cfg, tmp_path: Path) -> None:
    from src.evaluation.thresholds import tune_thresholds

    cfg = baseline_cfg(*JIGSAW, "baseline=tfidf_lr", "thresholds.metric=f2")
    run_baseline(cfg)
    _, raw = _splits(cfg)
    saved = json.loads((tmp_path / "run" / "thresholds.json").read_text())
    names = raw["val"].label_names
    expected = tune_thresholds(
        _saved_predictions(tmp_path / "run", "val"), raw["val"].labels, names, "f2"
    )
    assert saved["metric"] == "f2"
    assert saved["thresholds"] == pytest.approx(expected.thresholds)


def test_aim_run_holds_the_metrics(baseline_cfg, tmp_path: Path) -> None:
    from aim import Repo

    cfg = baseline_cfg(*JIGSAW, "baseline=dummy", "logger=aim")
    summary = run_baseline(cfg)
    repo = tmp_path / "run" / "aim"
    aim = Path(sys.executable).parent / "aim"
    reindex = [str(aim), "storage", "--repo", str(repo), "reindex", "-y"]
    subprocess.run(reindex, check=True, capture_output=True)
    (run,) = list(Repo(str(repo)).iter_runs())
    assert run.hash == summary["aim_run_hash"]
    assert run["hparams", "config"]["baseline"]["_target_"].endswith("DummyBaseline")
    tracked = {(m.name, m.context.to_dict().get("subset")): m for m in run.metrics()}
    assert tracked[("auc_macro", "test")].values.values_numpy()[-1] == 0.5
    assert ("f1_macro", "val") in tracked


@pytest.mark.slow
def test_cli_multirun_and_errors(tmp_path: Path) -> None:
    common = ["data=jigsaw_sample", "backbone=tiny_bert", "logger=csv", f"paths.log_dir={tmp_path}"]
    sweep = run_module(
        "src.baseline", "-m", "baseline=dummy,tfidf_lr,frozen_lr", *common, timeout=300
    )
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    jobs = sorted((tmp_path / "baseline" / "multiruns").glob("*/[0-9]*/metrics.json"))
    assert [json.loads(p.read_text())["status"] for p in jobs] == ["success"] * 3
    bad = run_module("src.baseline", "baseline=frozen_lr", "baseline.pooling=nope", *common)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: baseline.pooling must be one of ['cls', 'mean', 'max', 'cls_mean'], got 'nope'"
    ]
    unknown = run_module("src.baseline", "baseline=nope", *common)
    assert unknown.returncode != 0 and "Could not find 'baseline/nope'" in unknown.stderr


EMOTION = [
    "data=emotion",
    "data.max_train_rows=200",
    "data.max_val_rows=60",
    "data.max_test_rows=60",
]
WNUT = ["data=wnut17", "data.max_train_rows=150", "data.max_val_rows=80", "data.max_test_rows=100"]
VUA = [
    "data=vua_metaphor",
    "data.max_train_rows=60",
    "data.max_val_rows=24",
    "data.max_test_rows=24",
]


@pytest.fixture
def data_dirs(emotion_dir: Path, vua_dir: Path) -> dict[str, str]:
    """The synthetic emotion and VUA folders, as overrides by data set."""
    return {"emotion": f"data.data_dir={emotion_dir}", "vua_metaphor": f"data.data_dir={vua_dir}"}


def with_dir(overrides: list[str], dirs: dict[str, str]) -> list[str]:
    data = overrides[0].removeprefix("data=")
    return [*overrides, dirs[data]] if data in dirs else overrides


def test_multiclass_dummy_predicts_the_majority_class(
    baseline_cfg, tmp_path: Path, data_dirs: dict[str, str]
) -> None:
    cfg = baseline_cfg(*with_dir(EMOTION, data_dirs), "baseline=dummy")
    metrics = run_baseline(cfg)["metrics"]
    _, raw = _splits(cfg)
    majority = np.bincount(raw["train"].labels).argmax()
    assert metrics["test/accuracy"] == pytest.approx(np.mean(raw["test"].labels == majority))
    probs = _saved_predictions(tmp_path / "run", "test")
    prior = np.bincount(raw["train"].labels, minlength=6) / len(raw["train"].labels)
    np.testing.assert_allclose(probs, np.tile(prior, (len(probs), 1)), rtol=1e-6)


@pytest.mark.parametrize(
    "baseline", [pytest.param("tfidf_lr", marks=pytest.mark.slow), "frozen_lr"]
)
def test_multiclass_baselines_are_scored_by_the_metric_function(
    baseline_cfg, tmp_path: Path, data_dirs: dict[str, str], baseline: str
) -> None:
    from src.tasks.multiclass.metrics import multiclass_scores

    cfg = baseline_cfg(*with_dir(EMOTION, data_dirs), f"baseline={baseline}")
    metrics = run_baseline(cfg)["metrics"]
    _, raw = _splits(cfg)
    for split in ("val", "test"):
        probs = _saved_predictions(tmp_path / "run", split)
        expected = multiclass_scores(probs, raw[split].labels, raw[split].label_names)
        for key, value in expected.items():
            assert metrics[f"{split}/{key}"] == pytest.approx(value, abs=1e-9), key
    if baseline == "tfidf_lr":
        assert metrics["test/accuracy"] > 0.45  # 6 classes, majority share about 0.3


def _saved_tags(run: Path, split: str) -> list[list[str]]:
    return json.loads((run / "predictions.json").read_text())[split]


def test_token_dummy_tags_every_word_with_the_most_frequent_tag(
    baseline_cfg, tmp_path: Path, data_dirs: dict[str, str]
) -> None:
    cfg = baseline_cfg(*with_dir(VUA, data_dirs), "baseline=dummy")
    metrics = run_baseline(cfg)["metrics"]
    _, raw = _splits(cfg)
    assert {t for s in _saved_tags(tmp_path / "run", "test") for t in s} == {"0"}
    words = [t for s in raw["test"].labels for t in s]
    assert metrics["test/accuracy"] == pytest.approx(words.count("0") / len(words))
    assert metrics["test/f1"] == 0.0 and metrics["test/recall"] == 0.0


@pytest.mark.parametrize(
    "data, baseline",
    [(WNUT, "tfidf_lr"), pytest.param(VUA, "frozen_lr", marks=pytest.mark.slow), (WNUT, "dummy")],
    ids=["wnut_tfidf", "vua_frozen", "wnut_dummy"],
)
def test_token_baselines_are_scored_by_the_metric_function(
    baseline_cfg, tmp_path: Path, data_dirs: dict[str, str], data: list[str], baseline: str
) -> None:
    from src.tasks.token.metrics import token_scores

    cfg = baseline_cfg(*with_dir(data, data_dirs), f"baseline={baseline}")
    summary = run_baseline(cfg)
    metrics = summary["metrics"]
    _, raw = _splits(cfg)
    for split in ("val", "test"):
        tags = _saved_tags(tmp_path / "run", split)
        assert [len(s) for s in tags] == [len(s) for s in raw[split].texts]
        for key, value in token_scores(raw[split].labels, tags, cfg.data.scheme).items():
            assert metrics[f"{split}/{key}"] == pytest.approx(value, abs=1e-9), key
    if baseline == "tfidf_lr":
        assert metrics["test/f1"] > 0.0  # finds some entities
    if baseline == "dummy":
        assert metrics["test/f1"] == 0.0  # all O: no entity predicted
    if baseline == "frozen_lr":
        assert summary["timings"]["truncated_words"] >= 0
