"""`python -m src.predict`: multi-label (tuned thresholds or 0.5) and multi-class predictions
from a trained run folder, in-process and once through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from src.deploy.predictors import read_texts
from src.deploy.torch_predictors import CheckpointPredictor
from src.errors import TextlabError
from src.runs.loading import load_run
from src.train import train
from tests.conftest import TINY, compose_config, run_module

TEXTS = ["you are a wonderful person", "i feel so sad and lonely today", "what an idiot"]


def trained_run(tmp_path_factory, cache_dir: Path, *overrides: str) -> str:
    run_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config("train", [*TINY, *overrides], run_dir, cache_dir)
    return train(cfg)["best_checkpoint"]


@pytest.fixture(scope="module")
def multilabel_ckpt(tmp_path_factory, token_cache_dir) -> str:
    rows = ["data.max_train_rows=120", "data.max_test_rows=60"]
    fast = ["callbacks.plots.enabled=false", "callbacks.calibration.temperature_scaling=false"]
    return trained_run(tmp_path_factory, token_cache_dir, *rows, *fast)


@pytest.fixture(scope="module")
def multiclass_ckpt(tmp_path_factory, token_cache_dir, emotion_dir: Path) -> str:
    rows = ["data.max_train_rows=120", "data.max_val_rows=40", "data.max_test_rows=40"]
    rows += ["callbacks.plots.enabled=false", f"data.data_dir={emotion_dir}"]
    return trained_run(tmp_path_factory, token_cache_dir, "data=emotion", *rows)


def model_probs(ckpt: str, texts: list[str]) -> np.ndarray:
    """The reference: the run's model on the run's tokenisation, one text at a time."""
    from src.config import build

    run = load_run(ckpt)
    tokenizer = build(run.cfg.data.tokenizer)
    out = []
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=run.cfg.data.max_length)["input_ids"]
        ids = torch.tensor([ids])
        with torch.no_grad():
            out.append(run.model.task.probabilities(run.model(ids, torch.ones_like(ids))))
    return torch.cat(out).numpy()


def test_multilabel_uses_the_tuned_thresholds(multilabel_ckpt: str) -> None:
    predictor = CheckpointPredictor(multilabel_ckpt)
    results = predictor.predict(TEXTS)
    tuned = json.loads((Path(multilabel_ckpt).parent.parent / "thresholds.json").read_text())
    expected = model_probs(multilabel_ckpt, TEXTS)
    for result, probs in zip(results, expected, strict=True):
        assert result["task"] == "multilabel" and result["thresholds"] == "tuned (thresholds.json)"
        got = np.array(list(result["probabilities"].values()))
        assert got == pytest.approx(probs, abs=1e-5)  # batched + padded == one by one
        chosen = [n for n, p in result["probabilities"].items() if p >= tuned["thresholds"][n]]
        assert result["labels"] == chosen
    fixed = CheckpointPredictor(multilabel_ckpt, thresholds=0.0).predict(TEXTS[:1])[0]
    assert fixed["labels"] == list(fixed["probabilities"]) and fixed["thresholds"].startswith("0")


def test_multilabel_without_thresholds_file_says_it_uses_half(
    multilabel_ckpt: str, tmp_path: Path
) -> None:
    import shutil

    run = Path(multilabel_ckpt).parent.parent
    copy = tmp_path / "copy"
    (copy / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "config.yaml", copy / "config.yaml")
    shutil.copy(multilabel_ckpt, copy / "checkpoints" / "best.ckpt")
    result = CheckpointPredictor(copy / "checkpoints" / "best.ckpt").predict(TEXTS[:1])[0]
    assert result["thresholds"] == "0.5 (the run has no thresholds.json)"
    assert result["labels"] == [n for n, p in result["probabilities"].items() if p >= 0.5]


def test_multiclass_gives_softmax_and_the_argmax_class(multiclass_ckpt: str) -> None:
    results = CheckpointPredictor(multiclass_ckpt).predict(TEXTS)
    expected = model_probs(multiclass_ckpt, TEXTS)
    for result, probs in zip(results, expected, strict=True):
        assert result["task"] == "multiclass" and "thresholds" not in result
        got = np.array(list(result["probabilities"].values()))
        assert got.sum() == pytest.approx(1.0, abs=1e-4)
        assert got == pytest.approx(probs, abs=1e-5)
        assert result["label"] == list(result["probabilities"])[int(probs.argmax())]


def test_cli_reads_a_file_and_writes_jsonl(multiclass_ckpt: str, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text(f"{TEXTS[0]}\n\n{TEXTS[1]}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_module(
        "src.predict", f"ckpt_path={multiclass_ckpt}", f"input_file={texts}", f"output_file={out}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["text"] for row in rows] == TEXTS[:2]  # the blank line is skipped
    assert all(row["label"] in row["probabilities"] for row in rows)
    assert f"written: {out} (2 predictions)" in result.stdout


def test_src_eval_scores_a_multiclass_run_with_its_own_scores(multiclass_ckpt: str) -> None:
    """src.eval no longer refuses a multi-class run: it scores it as training did."""
    from src.eval import evaluate_checkpoint

    report = evaluate_checkpoint(multiclass_ckpt)
    assert report["task"] == "multiclass" and "thresholds" not in report
    assert 0.0 <= report["scores"]["default"]["accuracy"] <= 1.0


def test_bad_input_is_one_clear_error(multilabel_ckpt: str, tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from src.predict import texts_of

    with pytest.raises(TextlabError, match="either text"):
        texts_of(OmegaConf.create({"text": "a", "input_file": "b.txt"}))
    with pytest.raises(TextlabError, match="either text"):
        texts_of(OmegaConf.create({"text": None, "input_file": None}))
    with pytest.raises(TextlabError, match="not found"):
        read_texts(tmp_path / "missing.txt")
    with pytest.raises(TextlabError, match="checkpoint not found"):
        CheckpointPredictor(tmp_path / "nope.ckpt")
    with pytest.raises(TextlabError, match="thresholds must be"):
        CheckpointPredictor(multilabel_ckpt, thresholds="best")


def test_output_formats_agree_with_their_tasks() -> None:
    """The torch-free formats (ONNX path) read logits as the task objects do."""
    from src.tasks import TASKS, task_class
    from src.tasks.base import SEQUENCE
    from src.tasks.formats import FORMATS

    assert set(FORMATS) == set(TASKS)
    logits = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0)) * 4
    for name, fmt in FORMATS.items():
        task = task_class(name)()
        assert fmt.per_label_thresholds == task.per_label_thresholds
        assert fmt.per_text == (task.output == SEQUENCE)
        expected = task.probabilities(logits).numpy()
        np.testing.assert_allclose(fmt.probabilities(logits.numpy()), expected, atol=1e-6)
