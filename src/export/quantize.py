"""Dynamic int8 quantisation of the ONNX model (onnxruntime), and what it costs in accuracy."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import QuantType, quantize_dynamic

from src.inference.export_folder import open_export_folder
from src.inference.onnx_predictor import OnnxPredictor
from src.metrics.multilabel import multilabel_scores

INT8_FILE = "model.int8.onnx"


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs a line per tensor on the root logger at INFO."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(out_dir: Path, fp32_file: str = "model.onnx") -> dict[str, str]:
    """Weights to int8, activations quantised on the fly; returns the model files entry."""
    with _quiet_root_logger():
        quantize_dynamic(
            str(out_dir / fp32_file), str(out_dir / INT8_FILE), weight_type=QuantType.QInt8
        )
    return {"int8": INT8_FILE}


def quantization_cost(
    export_dir: Path, texts: Sequence[str], targets: np.ndarray, batch_size: int = 32
) -> dict[str, Any]:
    """fp32 vs int8 on labelled rows: macro AUC and F1 (tuned thresholds), probability drift."""
    folder = open_export_folder(export_dir, verify=False)
    label_names, thresholds = folder.label_names, folder.threshold_list
    report: dict[str, Any] = {"rows": len(texts)}
    probs = {}
    for variant in ("fp32", "int8"):
        probs[variant] = OnnxPredictor(folder, variant, batch_size).predict_probs(texts)
        scores = multilabel_scores(probs[variant], targets, label_names, threshold=thresholds)
        report[f"auc_macro_{variant}"] = scores["auc_macro"]
        report[f"f1_macro_{variant}"] = scores["f1_macro"]
    report["auc_macro_cost"] = report["auc_macro_fp32"] - report["auc_macro_int8"]
    report["max_abs_prob_diff"] = float(np.abs(probs["fp32"] - probs["int8"]).max())
    chosen = {v: probs[v] >= np.asarray(thresholds, dtype=np.float32) for v in probs}
    report["label_decisions_changed"] = int((chosen["fp32"] != chosen["int8"]).sum())
    report["file_mb"] = {
        v: round((export_dir / f).stat().st_size / 2**20, 1)
        for v, f in folder.config["model_files"].items()
    }
    return report
