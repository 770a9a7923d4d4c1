"""Predict with a Hugging Face-format export in PyTorch eager mode (the baseline to beat)."""

from __future__ import annotations

import numpy as np
import torch

from src.export.hf import load_hf_classifier
from src.inference.export_folder import ExportFolder
from src.inference.predictor import Predictor


class TorchPredictor(Predictor):
    """The exported encoder + head rebuilt as the training-time ``MultilabelClassifier``."""

    def __init__(self, folder: ExportFolder, batch_size: int = 32) -> None:
        super().__init__(folder, batch_size)
        self.model = load_hf_classifier(folder.path)
        self.name = "pytorch-eager"

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        return out.float().numpy()
