"""Predict with an ONNX export on onnxruntime: no torch anywhere on this path."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from src.inference.export_folder import ExportFolder
from src.inference.predictor import Predictor
from src.utils.errors import TextlabError


class OnnxPredictor(Predictor):
    """``variant`` picks the weights: ``fp32`` (``model.onnx``) or ``int8`` (quantised)."""

    def __init__(
        self,
        folder: ExportFolder,
        variant: str = "fp32",
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        super().__init__(folder, batch_size)
        files = folder.config.get("model_files", {})
        if variant not in files:
            raise TextlabError(
                f"{folder.path} has no '{variant}' model (it has {sorted(files)}); "
                "export with quantize=true for int8"
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(folder.path / files[variant]), options, providers=["CPUExecutionProvider"]
        )
        self.name = f"onnx-{variant}"

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return self.session.run(["logits"], feeds)[0]
