"""Pick the predictor an export folder needs: onnxruntime for ONNX, PyTorch for HF format."""

from __future__ import annotations

from pathlib import Path

from src.inference.export_folder import open_export_folder
from src.inference.predictor import Predictor
from src.utils.errors import TextlabError

VARIANTS = ("auto", "fp32", "int8")


def load_predictor(
    export_dir: str | Path, variant: str = "auto", batch_size: int = 32
) -> Predictor:
    """``variant``: ``fp32`` / ``int8`` ONNX weights; ``auto`` = fp32 (HF exports: PyTorch)."""
    if variant not in VARIANTS:
        raise TextlabError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    folder = open_export_folder(export_dir)
    if folder.format == "onnx":
        from src.inference.onnx_predictor import OnnxPredictor

        return OnnxPredictor(folder, "fp32" if variant == "auto" else variant, batch_size)
    if folder.format == "hf":
        if variant == "int8":
            raise TextlabError(f"{folder.path} is an HF export; int8 needs a format=onnx export")
        from src.inference.torch_predictor import TorchPredictor

        return TorchPredictor(folder, batch_size)
    raise TextlabError(f"{folder.path}: unknown export format {folder.format!r}")
