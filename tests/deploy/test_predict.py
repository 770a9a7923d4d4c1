"""`python -m src.predict`: multi-label (tuned thresholds or 0.5) and multi-class predictions
from a trained run folder, in-process and through the CLI (run references, stdin, errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from src.deploy.predictors import read_texts, texts_of
from src.deploy.torch_predictors import CheckpointPredictor
from src.errors import TextlabError
from src.runs.loading import load_run
from src.tasks.formats import PREDICTION
from src.train import train
from tests.conftest import ROOT, TINY, compose_config, run_module

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
    predictor = CheckpointPredictor(multilabel_ckpt, backend="pytorch-fp32")
    results = predictor.predict(TEXTS)
    tuned = json.loads((Path(multilabel_ckpt).parent.parent / "thresholds.json").read_text())
    expected = model_probs(multilabel_ckpt, TEXTS)
    for result, probs in zip(results, expected, strict=True):
        PREDICTION.validate_python(result)  # the one schema
        assert result["task"] == "multilabel" and result["thresholds"]["source"] == "tuned"
        assert result["thresholds"]["values"] == pytest.approx(tuned["thresholds"], abs=1e-6)
        got = np.array(list(result["probabilities"].values()))
        assert got == pytest.approx(probs, abs=1e-5)  # batched + padded == one by one
        chosen = [n for n, p in result["probabilities"].items() if p >= tuned["thresholds"][n]]
        assert result["labels"] == chosen
    fixed = CheckpointPredictor(multilabel_ckpt, thresholds=0.0).predict(TEXTS[:1])[0]
    assert fixed["labels"] == list(fixed["probabilities"])
    assert fixed["thresholds"]["source"] == "fixed"
    assert set(fixed["thresholds"]["values"].values()) == {0.0}


def test_bf16_backend_is_close_to_fp32(multilabel_ckpt: str) -> None:
    fp32 = CheckpointPredictor(multilabel_ckpt, backend="pytorch-fp32")
    bf16 = CheckpointPredictor(multilabel_ckpt, backend="pytorch-bf16")
    assert (fp32.name, bf16.name) == ("pytorch-fp32", "pytorch-bf16")
    np.testing.assert_allclose(bf16.predict_probs(TEXTS), fp32.predict_probs(TEXTS), atol=0.02)
    auto = CheckpointPredictor(multilabel_ckpt)
    assert auto.name in ("pytorch-fp32", "pytorch-bf16") and auto.choice


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
    assert result["thresholds"]["source"] == "default"
    assert set(result["thresholds"]["values"].values()) == {0.5}
    assert result["labels"] == [n for n, p in result["probabilities"].items() if p >= 0.5]


def test_multiclass_gives_softmax_and_the_argmax_class(multiclass_ckpt: str) -> None:
    results = CheckpointPredictor(multiclass_ckpt, backend="pytorch-fp32").predict(TEXTS)
    expected = model_probs(multiclass_ckpt, TEXTS)
    for result, probs in zip(results, expected, strict=True):
        PREDICTION.validate_python(result)
        assert result["task"] == "multiclass" and "thresholds" not in result
        got = np.array(list(result["probabilities"].values()))
        assert got.sum() == pytest.approx(1.0, abs=1e-4)
        assert got == pytest.approx(probs, abs=1e-5)
        assert result["label"] == list(result["probabilities"])[int(probs.argmax())]
        assert result["score"] == pytest.approx(probs.max(), abs=1e-5)


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
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    with pytest.raises(TextlabError, match="not both"):
        texts_of("a", "b.txt")
    with pytest.raises(TextlabError, match="nothing to predict"):
        texts_of(None, None, stdin=Terminal())
    with pytest.raises(TextlabError, match="stdin has no non-blank line"):
        texts_of(None, None, stdin=io.StringIO("\n  \n"))
    assert texts_of(None, None, stdin=io.StringIO('I don\'t\n\n"quoted"\n')) == [
        "I don't",
        '"quoted"',
    ]
    with pytest.raises(TextlabError, match="not valid Unicode"):
        texts_of("\udcff")  # what a non-UTF-8 command-line byte becomes
    with pytest.raises(TextlabError, match="not found"):
        read_texts(tmp_path / "missing.txt")
    with pytest.raises(TextlabError, match="checkpoint not found"):
        CheckpointPredictor(tmp_path / "nope.ckpt")
    with pytest.raises(TextlabError, match="thresholds must be"):
        CheckpointPredictor(multilabel_ckpt, thresholds="best")
    with pytest.raises(TextlabError, match="backend must be one of"):
        CheckpointPredictor(multilabel_ckpt, backend="onnx-int8")
    with pytest.raises(TextlabError, match="empty or whitespace only"):
        CheckpointPredictor(multilabel_ckpt).predict(["fine", "  "])


def run_predict(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``python -m src.predict`` with ``stdin`` piped (or closed: no terminal to wait on)."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "src.predict", *args],
        cwd=ROOT,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_reads_stdin_and_run_references(multilabel_ckpt: str, tmp_path: Path) -> None:
    """Texts with quotes through stdin (no Hydra quoting); a run folder and ``latest`` name
    the checkpoint; missing or unwritable things are one line."""
    run_dir = Path(multilabel_ckpt).parent.parent
    logs = tmp_path / "logs" / "train" / "runs"
    logs.mkdir(parents=True)
    (logs / "r1").symlink_to(run_dir, target_is_directory=True)
    texts = 'I don\'t like you\nshe said "hello"\n'
    done = run_predict(f"ckpt_path={run_dir}", "backend=pytorch-fp32", stdin=texts)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["text"] for row in rows] == ["I don't like you", 'she said "hello"']
    expected = CheckpointPredictor(multilabel_ckpt, backend="pytorch-fp32").predict(
        ["I don't like you", 'she said "hello"']
    )
    assert rows == expected
    latest = run_predict(
        "ckpt_path=latest", f"paths.log_dir={tmp_path / 'logs'}", "backend=pytorch-fp32",
        stdin=texts,
    )  # fmt: skip
    assert latest.returncode == 0, latest.stderr[-2000:]
    assert [json.loads(line) for line in latest.stdout.splitlines()] == rows

    for args, fragment in [
        ((), "ckpt_path is required"),
        ((f"ckpt_path={run_dir}",), "stdin has no non-blank line"),
        ((f"ckpt_path={run_dir}", "text=hi", "batch_size=abc"), "batch_size must be an integer"),
        ((f"ckpt_path={run_dir}", "text=hi", f"output_file={tmp_path}"), "cannot write"),
        (
            (f"ckpt_path={run_dir}", "text=hi", f"output_file={tmp_path}/texts/x.jsonl"),
            "cannot write",
        ),
        (("ckpt_path=latest:nothing", f"paths.log_dir={tmp_path}", "text=hi"), "no finished"),
    ]:
        if args and "texts/x.jsonl" in args[-1]:
            (tmp_path / "texts").write_text("a file where a folder should be")
        done = run_predict(*args)
        assert done.returncode == 2, (args, done.stderr[-2000:])
        errors = done.stderr.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith("error: "), done.stderr[-2000:]
        assert fragment in errors[0], (fragment, errors[0])


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
