"""Multi-class emotion: reader, metrics vs sklearn, class weights, the DataModule's raw splits,
and a tiny end-to-end run with its confusion matrix and base-vs-tuned metrics."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as L
import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score
from sklearn.utils.class_weight import compute_class_weight

from src.callbacks.records import AimArtifacts
from src.config import build, build_datamodule
from src.data.readers.emotion import EMOTION_LABELS, read_emotion_file
from src.errors import TextlabError
from src.tasks.multiclass.metrics import MulticlassScores, multiclass_scores
from src.tasks.multiclass.task import balanced_class_weights
from src.tasks.token.task import TokenTask
from src.train import train

# real lines of dair-ai emotion train.txt (header included)
REAL_LINES = [
    "text;label_name",
    "i didnt feel humiliated;sadness",
    "i am ever feeling nostalgic about the fireplace i will know that it is still on the "
    "property;love",
    "ive been taking or milligrams or times recommended amount and ive fallen asleep a lot "
    "faster but i also feel like so funny;surprise",
    "i feel as confused about life as a teenager or as jaded as a year old man;fear",
]
EMOTION_ROWS = ["data.max_train_rows=160", "data.max_val_rows=60", "data.max_test_rows=60"]


def emotion(emotion_dir: Path) -> list[str]:
    return ["data=emotion", f"data.data_dir={emotion_dir}"]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reader_on_real_lines(tmp_path: Path) -> None:
    texts, labels, ids = read_emotion_file(write_lines(tmp_path / "train.txt", REAL_LINES))
    assert texts[0] == "i didnt feel humiliated"
    assert [EMOTION_LABELS[i] for i in labels] == ["sadness", "love", "surprise", "fear"]
    assert labels.dtype == np.int64 and ids[0] == "train:2"  # line 1 is the header


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("i feel fine and no label", "line 3 has no ';'"),
        ("i feel great;happiness", "line 3 has unknown label 'happiness'"),
        (";joy", "line 3 has an empty text"),
    ],
)
def test_reader_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path / "bad.txt", [*REAL_LINES[:2], line])
    with pytest.raises(TextlabError, match=message):
        read_emotion_file(path)


def test_missing_emotion_folder_says_where_to_point(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("data=emotion", f"data.data_dir={tmp_path}/nowhere")
    with pytest.raises(TextlabError, match="TEXTLAB_DATA_DIR"):
        build_datamodule(cfg.data).prepare_data()


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_scores_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(5), size=80)
    targets = rng.integers(0, 4, size=80)  # class 4 never true: sklearn's union of labels
    names = list("abcde")
    scores = multiclass_scores(probs, targets, names)
    preds = probs.argmax(axis=1)
    assert scores["accuracy"] == pytest.approx(accuracy_score(targets, preds))
    assert scores["f1_macro"] == pytest.approx(f1_score(targets, preds, average="macro"))
    assert scores["f1_weighted"] == pytest.approx(f1_score(targets, preds, average="weighted"))
    per_class = f1_score(targets, preds, average=None, labels=range(5), zero_division=0)
    for name, expected in zip(names, per_class, strict=True):
        assert scores[f"f1/{name}"] == pytest.approx(expected)
    metric = MulticlassScores(names)  # batched accumulation gives the same numbers
    for part in np.array_split(np.arange(80), 3):
        metric.update(torch.as_tensor(probs[part]), torch.as_tensor(targets[part]))
    batched = {k: v.item() for k, v in metric.compute().items()}
    assert batched == pytest.approx(scores)


def test_balanced_class_weights_match_sklearn() -> None:
    ids = np.array([0] * 7 + [1] * 2 + [2] * 1)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=ids)
    assert balanced_class_weights(ids, 3).numpy() == pytest.approx(expected)


def test_emotion_raw_split_is_what_the_run_trains_on(make_cfg, emotion_dir) -> None:
    datamodule = build_datamodule(make_cfg(*emotion(emotion_dir), *EMOTION_ROWS).data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    for split, dataset in (
        ("train", datamodule.train_dataset),
        ("val", datamodule.val_dataset),
        ("test", datamodule.test_dataset),
    ):
        raw = datamodule.raw_split(split)
        assert raw.labels.dtype == np.int64 and raw.label_names == EMOTION_LABELS
        assert len(raw.texts) == len(dataset) == {"train": 160}.get(split, 60)
        assert np.array_equal(raw.labels, dataset.labels.argmax(axis=1))


def test_task_options_fail_clearly(make_cfg, emotion_dir) -> None:
    base = make_cfg(*emotion(emotion_dir))
    bad = make_cfg(*emotion(emotion_dir), "data.task.class_weights=inverse")
    with pytest.raises(TextlabError, match="data.task.class_weights must be one of"):
        build(bad.model, label_names=["a"])
    with pytest.raises(TextlabError, match="labels words .* use model=token_tagger"):
        build(base.model, task=TokenTask(), label_names=["a"])


def test_class_weights_come_from_the_training_split(make_cfg, emotion_dir) -> None:
    cfg = make_cfg(*emotion(emotion_dir), *EMOTION_ROWS, "data.task.class_weights=balanced")
    datamodule = build_datamodule(cfg.data)
    model = build(cfg.model, label_names=datamodule.label_names)
    L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False).fit(model, datamodule)
    class_ids = datamodule.train_dataset.labels.argmax(axis=1)
    expected = compute_class_weight("balanced", classes=np.arange(6), y=class_ids)
    assert model.loss_fn.class_weight.numpy() == pytest.approx(expected)
    assert not any(
        "class_weight" in key for key in model.state_dict()
    )  # checkpoints load with or without it


def test_tiny_emotion_run_end_to_end(make_cfg, tmp_path: Path, emotion_dir) -> None:
    cfg = make_cfg(
        *emotion(emotion_dir),
        *EMOTION_ROWS,
        "model=avg_pooler",
        "callbacks.base_vs_tuned.enabled=true",
    )
    summary = train(cfg)
    metrics = summary["metrics"]
    for stage in ("val", "test", "base/test"):
        for key in ("accuracy", "f1_macro", "f1_weighted", "f1/joy", "f1/surprise"):
            assert 0.0 <= metrics[f"{stage}/{key}"] <= 1.0
    for key in ("accuracy", "f1_macro", "f1_weighted"):
        gain = metrics[f"test/{key}"] - metrics[f"base/test/{key}"]
        assert metrics[f"improvement/test/{key}"] == pytest.approx(gain)
    run = tmp_path / "run"
    assert (run / "plots" / "confusion_matrix.png").stat().st_size > 1000
    assert not (run / "thresholds.json").exists()  # multi-label only
    stats = json.loads((run / "statistics.json").read_text())
    confusion = np.array(stats["evaluation"]["confusion_matrix"])
    assert confusion.shape == (6, 6) and confusion.sum() == 60
    # the confusion matrix of the reloaded best checkpoint agrees with the logged test accuracy
    assert np.trace(confusion) / 60 == pytest.approx(metrics["test/accuracy"], abs=1e-6)
    assert stats["evaluation"]["test"]["f1_macro"] == pytest.approx(metrics["test/f1_macro"])
    saved = json.loads((run / "metrics.json").read_text())["metrics"]
    assert saved["test/f1/joy"] == pytest.approx(metrics["test/f1/joy"])


def test_confusion_matrix_goes_to_aim_as_param_and_image(tmp_path: Path) -> None:
    from aim import Image
    from src.evaluation.plots import plot_confusion_matrix

    class FakeRun(dict):
        tracked: list = []

        def track(self, value, name, context):
            self.tracked.append((value, name, context))

    class AimLogger:
        experiment = FakeRun()

    counts = np.array([[5, 1], [2, 7]])
    png = plot_confusion_matrix(counts, ["joy", "fear"], tmp_path / "cm.png")
    results = {
        "evaluation": {"labels": ["joy", "fear"], "confusion_matrix": counts.tolist()},
        "plots": {"confusion_matrix": png},
    }
    run = AimLogger.experiment
    AimArtifacts.track(run, results)
    assert run["confusion_matrix"] == {"labels": ["joy", "fear"], "counts": [[5, 1], [2, 7]]}
    (image, name, context), *_ = run.tracked
    assert isinstance(image, Image) and name == "confusion_matrix"
