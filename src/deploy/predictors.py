"""Predict with an export folder: batching, probabilities and decisions, on any backend.

:class:`Predictor` is the backend-neutral part; :class:`OnnxPredictor` runs ``model.onnx`` on
onnxruntime with numpy and the ``tokenizers`` library only (no torch import on this path: a
served or scripted ONNX model never loads it). HF-format exports run on PyTorch
(``src.deploy.torch_predictors``), imported only when such a folder is loaded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from src.deploy.folder import ExportFolder, TextEncoder, open_export_folder
from src.errors import TextlabError

VARIANTS = ("auto", "fp32", "int8")


class Predictor(ABC):
    """Texts in, per-label probabilities and decisions (e.g. thresholded labels) out.

    Texts run through the model ``batch_size`` at a time, sorted by token length so a batch
    pads to similar lengths; results come back in the input order.
    """

    #: short name of the backend and weights, e.g. ``onnx-fp32``
    name: str = "predictor"

    def __init__(self, folder: ExportFolder, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise TextlabError(f"batch_size must be >= 1, got {batch_size}")
        if not folder.output.per_text:
            raise TextlabError(
                f"{folder.path} is a {folder.task_name} export: this predictor returns one "
                "result per text (sequence classifiers); rebuild a tagger from its format=hf "
                "export with src.deploy.torch_predictors.load_hf_model"
            )
        self.folder = folder
        self.batch_size = batch_size
        self.encoder = TextEncoder.of(folder)

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
            logits = self.logits(batch["input_ids"], batch["attention_mask"])
            out[index] = self.folder.output.probabilities(logits)
        return out

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Per text: every label's probability and what is predicted (multi-label: the labels
        whose threshold it reaches)."""
        probs = self.predict_probs(texts)
        names = self.folder.label_names
        decided = self.folder.output.decisions(probs, names, self.folder.threshold_list)
        return [
            {
                "probabilities": {name: float(p) for name, p in zip(names, row, strict=True)},
                **decision,
            }
            for row, decision in zip(probs, decided, strict=True)
        ]


class OnnxPredictor(Predictor):
    """``variant`` picks the weights: ``fp32`` (``model.onnx``) or ``int8`` (quantised)."""

    def __init__(
        self,
        folder: ExportFolder,
        variant: str = "fp32",
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

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


def load_predictor(
    export_dir: str | Path, variant: str = "auto", batch_size: int = 32
) -> Predictor:
    """The predictor an export folder needs: onnxruntime for ONNX, PyTorch for HF format.

    ``variant``: ``fp32`` / ``int8`` ONNX weights; ``auto`` = fp32 (HF exports: PyTorch).
    """
    if variant not in VARIANTS:
        raise TextlabError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    folder = open_export_folder(export_dir)
    if folder.format == "onnx":
        return OnnxPredictor(folder, "fp32" if variant == "auto" else variant, batch_size)
    if folder.format == "hf":
        if variant == "int8":
            raise TextlabError(f"{folder.path} is an HF export; int8 needs a format=onnx export")
        from src.deploy.torch_predictors import TorchPredictor

        return TorchPredictor(folder, batch_size)
    raise TextlabError(f"{folder.path}: unknown export format {folder.format!r}")


def read_texts(path: str | Path) -> list[str]:
    """One text per line (blank lines skipped), UTF-8; a clear error when unreadable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TextlabError(f"input_file {path} not found; pass a text file with one text per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise TextlabError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise TextlabError(f"input_file {path} has no non-blank line to predict")
    return texts
