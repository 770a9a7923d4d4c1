"""Case 4: inference throughput, PyTorch eager fp32 / bf16 vs ONNX Runtime fp32 / int8.

All four score the same batches of Jigsaw test rows (tokenised beforehand, dynamic padding),
with the same thread count; the ONNX files come from ``src.deploy.export`` (the TorchScript
exporter and onnxruntime's dynamic int8 quantisation, as ``python -m src.export`` writes them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch

from benchmarks.common import BenchSettings, autocast, compose_train_config, use_threads
from src.config import build, build_datamodule
from src.deploy.export import export_onnx, quantize_onnx
from src.deploy.folder import INT8_FILE, ONNX_FILE

VARIANTS = ("eager_fp32", "eager_bf16", "onnx_fp32", "onnx_int8")
WARMUP_BATCHES = 2


def onnx_dir(settings: BenchSettings) -> Path:
    return Path(settings.work_dir) / "onnx"


def _model_and_batches(settings: BenchSettings, with_model: bool = True):
    """The test batches, and the model (left out for ONNX, so its memory is not counted)."""
    cfg = compose_train_config(
        settings,
        f"data.max_length={settings.infer_max_length}",
        f"data.eval_batch_size={settings.batch_size}",
        "logger=none",
    )
    L.seed_everything(cfg.seed, verbose=False)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    batches = []
    for batch in datamodule.test_dataloader():
        batches.append(batch)
        if len(batches) == WARMUP_BATCHES + settings.infer_batches:
            break
    if not with_model:
        return None, batches
    model = build(cfg.model, label_names=datamodule.label_names).eval()
    return model, batches


def export_case(settings: BenchSettings) -> dict[str, Any]:
    """Write model.onnx and model.int8.onnx for the ONNX variants (not a measurement)."""
    use_threads(settings.threads)
    model, _ = _model_and_batches(settings)
    folder = onnx_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    export_onnx(model, folder)
    quantize_onnx(folder)
    sizes = {f: round((folder / f).stat().st_size / 2**20, 1) for f in (ONNX_FILE, INT8_FILE)}
    return {"file_mb": sizes}


def _runner(settings: BenchSettings, variant: str, model):
    if variant.startswith("eager"):
        precision = "bf16-mixed" if variant == "eager_bf16" else "32-true"

        def run(batch):
            with torch.inference_mode(), autocast(precision):
                return model(batch["input_ids"], batch["attention_mask"]).float().numpy()

        return run
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads
    file = INT8_FILE if variant == "onnx_int8" else ONNX_FILE
    session = ort.InferenceSession(
        str(onnx_dir(settings) / file), options, providers=["CPUExecutionProvider"]
    )

    def run(batch):
        feeds = {k: batch[k].numpy() for k in ("input_ids", "attention_mask")}
        return session.run(["logits"], feeds)[0]

    return run


def inference_case(settings: BenchSettings, variant: str) -> dict[str, Any]:
    use_threads(settings.threads)
    model, batches = _model_and_batches(settings, with_model=variant.startswith("eager"))
    run = _runner(settings, variant, model)
    for batch in batches[:WARMUP_BATCHES]:
        run(batch)
    timed = batches[WARMUP_BATCHES:]
    start = time.perf_counter()
    outputs = [run(batch) for batch in timed]
    seconds = time.perf_counter() - start
    samples = sum(len(o) for o in outputs)
    assert all(np.isfinite(o).all() for o in outputs)
    return {
        "samples_per_s": samples / seconds,
        "timed_batches": len(timed),
        "mean_batch_width": float(np.mean([b["input_ids"].shape[1] for b in timed])),
    }
