"""The backend-neutral part of a predictor: batching, probabilities, thresholded labels."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from src.inference.export_folder import TOKENIZER, ExportFolder
from src.inference.text_encoder import TextEncoder
from src.inference.thresholds import apply_thresholds, sigmoid
from src.utils.errors import TextlabError


class Predictor(ABC):
    """Texts in, per-label probabilities and predicted labels out.

    Texts run through the model ``batch_size`` at a time, sorted by token length so a batch
    pads to similar lengths; results come back in the input order.
    """

    #: short name of the backend and weights, e.g. ``onnx-fp32``
    name: str = "predictor"

    def __init__(self, folder: ExportFolder, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise TextlabError(f"batch_size must be >= 1, got {batch_size}")
        self.folder = folder
        self.batch_size = batch_size
        self.encoder = TextEncoder(
            folder.path / TOKENIZER, folder.max_length, folder.config["pad_token_id"]
        )

    @abstractmethod
    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """float32 ``[batch, labels]`` logits for one padded batch."""

    def predict_probs(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), labels]`` probabilities."""
        out = np.zeros((len(texts), len(self.folder.label_names)), dtype=np.float32)
        if not texts:
            return out
        ids = self.encoder.token_ids(texts)
        order = np.argsort([len(row) for row in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            batch = self.encoder.pad([ids[i] for i in index])
            out[index] = sigmoid(self.logits(batch["input_ids"], batch["attention_mask"]))
        return out

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text: every label's probability and the labels its threshold selects."""
        probs = self.predict_probs(texts)
        chosen = apply_thresholds(probs, self.folder.threshold_list)
        names = self.folder.label_names
        return [
            {
                "probabilities": {name: float(p) for name, p in zip(names, row, strict=True)},
                "labels": [name for name, hit in zip(names, hits, strict=True) if hit],
            }
            for row, hits in zip(probs, chosen, strict=True)
        ]
