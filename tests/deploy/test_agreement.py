"""One answer from every tool: a text's scores hardly depend on its batch-mates on any backend,
the default (``auto``) tools agree within the documented tolerance, and ``auto`` never serves
an int8 model whose quantisation verdict failed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import src.deploy.exporter as exporter
from src.deploy.backends import BATCH_TOLERANCE, PROB_TOLERANCE
from src.deploy.exporter import export_run
from src.deploy.references import load_predictor
from src.deploy.service import create_app
from src.deploy.torch_predictors import CheckpointPredictor
from tests.deploy.export_helpers import learned_run

TEXT = "you are an idiot"
OTHERS = [
    "thank you for the very kind and thoughtful edits to the article on the history of the city",
    "go away",
    "what a stupid, stupid thing to say, you absolute fool",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, token_cache_dir: Path) -> Path:
    """A copy of the learned tiny run (shared with other modules: left as it is) with an ONNX
    export (int8 included) and an HF export."""
    learned = learned_run(tmp_path_factory.getbasetemp(), token_cache_dir).parent.parent
    run = tmp_path_factory.mktemp("agreement") / "run"
    shutil.copytree(learned, run, symlinks=True)
    ckpt = run / "checkpoints" / "best.ckpt"
    export_run(ckpt, "onnx", run / "export" / "onnx", quantize=True, eval_max_rows=None)
    export_run(ckpt, "hf", run / "export" / "hf")
    return run


@pytest.mark.parametrize("backend", ["pytorch-fp32", "pytorch-bf16", "onnx-fp32", "onnx-int8"])
def test_a_texts_scores_do_not_depend_on_its_batch(run_dir: Path, backend: str) -> None:
    """int8 runs each text alone: identical (batched, it quantises activations per call, and a
    text's scores moved by 1.8e-4 here). bf16 runs batched and rounds per padded shape: within
    BATCH_TOLERANCE. float32 differs only by float32 rounding (1 ulp, 1.5e-8 here)."""
    predictor = load_predictor(run_dir, backend)
    atol = {"onnx-int8": 0.0, "pytorch-bf16": BATCH_TOLERANCE}.get(backend, 1e-6)
    alone = predictor.predict_probs([TEXT])[0]
    batches = [[TEXT, *OTHERS[:k]] for k in range(1, len(OTHERS) + 1)]
    for texts in [*batches, [*OTHERS, TEXT]]:
        together = predictor.predict_probs(texts)[texts.index(TEXT)]
        np.testing.assert_allclose(together, alone, rtol=0, atol=atol)


def test_bf16_stores_linear_weights_in_bf16_and_scores_as_autocast_does(run_dir: Path) -> None:
    """The bf16 predictor casts its linear layers' weights once; its logits are autocast's over
    the float32 model, to the bit, and its model calls hold whole requests."""
    import torch

    from src.deploy.torch_predictors import load_hf_model

    predictor = load_predictor(run_dir, "pytorch-bf16")
    linear = [m for m in predictor.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linear and all(m.weight.dtype == torch.bfloat16 for m in linear)
    assert predictor.max_batch_tokens == predictor.batch_size * predictor.encoder.max_length
    batch = predictor.encoder.pad(predictor.encoder.token_ids([TEXT, *OTHERS]))
    ids, mask = torch.from_numpy(batch["input_ids"]), torch.from_numpy(batch["attention_mask"])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = load_hf_model(run_dir / "export" / "hf")(ids, mask).float().numpy()
    got = predictor.logits(batch["input_ids"], batch["attention_mask"])
    np.testing.assert_array_equal(got, expected)


def test_every_tool_gives_the_same_answer_by_default(run_dir: Path) -> None:
    """src.predict (checkpoint), src.onnx_predict, src.serve and the Python API with their
    default settings: probabilities within PROB_TOLERANCE, and the same labels except where a
    probability lies within that distance of its threshold (docs/serving.md)."""
    texts = [TEXT, *OTHERS]
    checkpoint = CheckpointPredictor(run_dir).predict(texts)
    onnx = load_predictor(run_dir / "export" / "onnx").predict(texts)
    api = load_predictor(run_dir).predict(texts)
    with TestClient(create_app(run_dir)) as client:
        served = client.post("/predict", json={"texts": [TEXT]}).json()["predictions"]
    answers = {"onnx_predict": onnx, "api": api, "serve": served}
    for tool, predictions in answers.items():
        for got, want in zip(predictions, checkpoint, strict=False):
            thresholds = want["thresholds"]["values"]
            for label, score in want["probabilities"].items():
                assert abs(got["probabilities"][label] - score) <= PROB_TOLERANCE, (tool, label)
                if abs(score - thresholds[label]) > PROB_TOLERANCE:  # a clear decision
                    assert (label in got["labels"]) == (label in want["labels"]), (tool, label)


def test_quantisation_states_a_verdict_and_auto_skips_a_failed_int8(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = json.loads((run_dir / "export" / "onnx" / "quantization.json").read_text())
    assert report["verdict"] == "pass" and report["max_abs_prob_diff"] <= PROB_TOLERANCE
    assert report["tolerance"] == {"max_abs_prob_diff": PROB_TOLERANCE}
    assert load_predictor(run_dir / "export" / "onnx", measured_file=None).name == "onnx-int8"

    monkeypatch.setattr(exporter, "PROB_TOLERANCE", 0.0)  # any drift fails
    out = export_run(run_dir, "onnx", tmp_path / "failed", quantize=True, eval_max_rows=None)
    report = json.loads((out / "quantization.json").read_text())
    assert report["verdict"] == "fail" and "will not serve int8" in report["verdict_reason"]
    chosen = load_predictor(out, measured_file=None)
    assert chosen.name == "onnx-fp32" and "onnx-int8 left out" in chosen.choice
    assert load_predictor(out, "onnx-int8").name == "onnx-int8"  # asked for by name, it runs
