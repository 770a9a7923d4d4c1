"""Token-tagger export: ONNX logits [batch, sequence, tags] equal PyTorch's on unseen shapes
(BERT and DistilBERT), HF round trip, manifest, the settings a reader needs, and spans from the
exported logits without torch equal to the PyTorch model's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from src.config import build
from src.deploy.exporter import export_run
from src.deploy.references import load_predictor
from src.deploy.torch_predictors import load_hf_model, predict_token_spans
from src.errors import TextlabError
from src.runs.loading import load_run
from tests.deploy.export_helpers import train_tiny
from tests.deploy.test_export import check_manifest, random_batch

TAGGER = [
    "data=wnut17",
    "model=token_tagger",
    "analyses=false",
    "test=false",
    "data.max_train_rows=32",
    "++data.max_val_rows=16",
]


@pytest.mark.parametrize("mix_layers", [1, 2])
@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_distilbert"])
def test_token_tagger_onnx_and_hf_exports_match_pytorch(
    tmp_path: Path, token_cache_dir: Path, backbone: str, mix_layers: int
) -> None:
    overrides = [f"backbone={backbone}", f"model.mix_layers={mix_layers}", *TAGGER]
    ckpt = train_tiny(tmp_path / "run", token_cache_dir, *overrides)
    model = load_run(ckpt).model
    tags = len(model.label_names)
    out = export_run(ckpt, "onnx", tmp_path / "onnx")
    assert {p.name for p in out.iterdir()} == {
        "export_config.json",
        "manifest.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.onnx",
        "README.md",
    }  # no thresholds.json: a tagger takes the argmax tag; README.md: the model card
    manifest = check_manifest(out)
    assert manifest["task"] == "token_classification" and manifest["task_name"] == "token"
    config = json.loads((out / "export_config.json").read_text())
    assert config["label_names"] == model.label_names and config["label_names"][0] == "O"
    assert config["scheme"] == "bio" and config["default_tag"] == "O"
    assert config["outputs"] == ["logits"]
    assert config["logits_axes"] == ["batch", "sequence", "tags"]
    assert config["max_length"] == 32 and config["pooling"] is None
    assert config["mix_layers"] == mix_layers

    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch, length, seed in [(1, 5, 1), (3, 29, 2), (6, 77, 3)]:  # traced at 2 x 16
        input_ids, attention_mask = random_batch(batch, length, seed)
        with torch.no_grad():
            expected = model(input_ids, attention_mask).numpy()
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        (logits,) = session.run(["logits"], feeds)
        assert logits.shape == (batch, length, tags)
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)

    hf = export_run(ckpt, "hf", tmp_path / "hf")
    check_manifest(hf)
    input_ids, attention_mask = random_batch(4, 21, 7)
    with torch.no_grad():
        got = load_hf_model(hf)(input_ids, attention_mask)
        expected = model(input_ids, attention_mask)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    # spans from the exported logits (numpy + tokenizers word ids) == the PyTorch model's
    texts = ["Empire State Building =  ESB .", "Pretty bad storm here last evening .", "@paul"]
    tokenizer = build(load_run(ckpt).cfg.backbone.tokenizer)
    expected = predict_token_spans(model, tokenizer, texts, max_length=32)
    for folder, backend in ((out, "onnx-fp32"), (hf, "pytorch-fp32")):
        predictions = load_predictor(folder, backend).predict(texts)
        for prediction, want in zip(predictions, expected, strict=True):
            assert prediction["task"] == "token"
            assert [(s["text"], s["label"], s["start"], s["end"]) for s in prediction["spans"]] == [
                (s["text"], s["label"], s["start"], s["end"]) for s in want
            ]
            got = [s["score"] for s in prediction["spans"]]
            assert got == pytest.approx([s["score"] for s in want], abs=1e-4)
    with pytest.raises(TextlabError, match="quantize=true is for sequence classifiers"):
        export_run(ckpt, "onnx", tmp_path / "int8", quantize=True)
