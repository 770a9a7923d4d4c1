"""format=hf exports a Hugging Face user loads: a BERT [CLS] model is transformers' own
BertForSequenceClassification (same probabilities); other models say what loads them; every
export carries a model card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from src.deploy.exporter import export_run
from src.deploy.torch_predictors import CheckpointPredictor
from tests.deploy.export_helpers import learned_run, untrained_run

TEXTS = ["you are an idiot", "thank you for the kind edits", "go away, you stupid fool"]


def transformers_probs(folder: Path, softmax: bool = False) -> np.ndarray:
    """What a Hugging Face user gets: AutoTokenizer + AutoModelForSequenceClassification."""
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    return (logits.softmax(-1) if softmax else logits.sigmoid()).numpy()


@pytest.fixture(scope="module")
def learned_ckpt(tmp_path_factory: pytest.TempPathFactory, token_cache_dir: Path) -> Path:
    return learned_run(tmp_path_factory.getbasetemp(), token_cache_dir)


def test_a_bert_cls_model_loads_as_bert_for_sequence_classification(
    learned_ckpt: Path, tmp_path: Path
) -> None:
    out = export_run(learned_ckpt, "hf", tmp_path / "hf")
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.problem_type == "multi_label_classification"
    assert model.config.id2label[0] == "toxic" and model.config.label2id["identity_hate"] == 5
    want = CheckpointPredictor(learned_ckpt, backend="pytorch-fp32").predict_probs(TEXTS)
    np.testing.assert_allclose(transformers_probs(out), want, atol=1e-6, rtol=0)
    about = json.loads((out / "export_config.json").read_text())
    assert "AutoModelForSequenceClassification" in about["load_with"]


def test_a_multiclass_model_is_single_label(
    tmp_path: Path, token_cache_dir: Path, emotion_dir: Path
) -> None:
    ckpt = untrained_run(
        tmp_path / "run", token_cache_dir, "data=emotion", f"data.data_dir={emotion_dir}"
    )
    out = export_run(ckpt, "hf", tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "single_label_classification"
    want = CheckpointPredictor(ckpt, backend="pytorch-fp32").predict_probs(TEXTS)
    np.testing.assert_allclose(transformers_probs(out, softmax=True), want, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        (["backbone=tiny_distilbert"], "pre_classifier + ReLU"),
        (["model=mean_pooler"], "the mean pooler has no stock transformers class"),
    ],
)
def test_other_models_say_what_loads_them(
    tmp_path: Path, token_cache_dir: Path, overrides: list[str], why: str
) -> None:
    ckpt = untrained_run(tmp_path / "run", token_cache_dir, *overrides)
    out = export_run(ckpt, "hf", tmp_path / "hf")
    load_with = json.loads((out / "export_config.json").read_text())["load_with"]
    assert "load_predictor(folder)" in load_with and why in load_with
    card = (out / "README.md").read_text()
    assert load_with in card


def test_every_export_carries_a_model_card(learned_ckpt: Path, tmp_path: Path) -> None:
    run_dir = learned_ckpt.parent.parent
    out = export_run(learned_ckpt, "onnx", tmp_path / "onnx")
    card = (out / "README.md").read_text()
    for section in ("## How to load", "## Data", "## Metrics", "## Thresholds", "## Intended use"):
        assert section in card
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert (
        f"| auc_macro | {metrics['val/auc_macro']:.4f} | {metrics['test/auc_macro']:.4f} |" in card
    )
    assert "95% bootstrap interval" in card and "1000 bootstrap resamples" in card
    thresholds = json.loads((run_dir / "thresholds.json").read_text())
    for label in thresholds["thresholds"]:
        how = "kept the default" if label in thresholds["kept_default"] else "tuned on validation"
        assert f"| {label} | {thresholds['thresholds'][label]:.3f} | {how}" in card
