"""How each task's predictions read outside PyTorch: numpy only, looked up by task name.

An export folder names its task (``export_config.json``), and the ONNX predictor, the service
and ``python -m src.predict`` turn logits into probabilities and decisions from that name. The
task classes (``src.tasks.multilabel`` ...) import torch, so the torch-free half of each task
lives here: the ONNX path must run without torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, softmax

from src.errors import TextlabError


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """float32 sigmoid (scipy's ``expit``: no overflow warnings for large logits)."""
    return expit(np.asarray(logits, dtype=np.float32))


def apply_thresholds(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Boolean ``[N, L]``: which labels each row predicts.

    The rule ``src.metrics.multilabel`` scores with: a label is predicted when
    ``prob >= threshold`` (a probability equal to it counts).
    """
    return np.asarray(probs) >= np.asarray(thresholds, dtype=np.asarray(probs).dtype)


class OutputFormat:
    """A task's predictions as numbers and JSON: probabilities, decisions, export fields."""

    name: ClassVar[str]
    #: the ``task`` field of an export folder (kept for its readers); None: not exportable yet
    export_task: ClassVar[str | None] = None
    #: what the logits' axes are
    logits_axes: ClassVar[tuple[str, ...]] = ("batch", "labels")
    activation: ClassVar[str] = "softmax"
    decision_rule: ClassVar[str]
    #: decisions cut each label's probability at its threshold (``thresholds.json``), as
    #: the task's ``per_label_thresholds`` says
    per_label_thresholds: ClassVar[bool] = False
    #: one prediction per text (what the ONNX predictor and the service return)
    per_text: ClassVar[bool] = True

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """float32 probabilities from logits (softmax over the last axis by default)."""
        return softmax(np.asarray(logits, dtype=np.float32), axis=-1).astype(np.float32)

    def decisions(
        self,
        probs: np.ndarray,
        label_names: Sequence[str],
        thresholds: Sequence[float] | None = None,
    ) -> list[dict[str, Any]]:
        """Per row of ``probs``, what is predicted (keys added to its probabilities)."""
        raise TextlabError(f"{self.name} models predict per word, not one result per text")

    def export_fields(
        self, label_names: Sequence[str], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What ``export_config.json`` tells a reader about reading the logits."""
        return {
            "logits_axes": list(self.logits_axes),
            "activation": self.activation,
            "decision_rule": self.decision_rule,
        }


class MultilabelFormat(OutputFormat):
    name: ClassVar[str] = "multilabel"
    export_task: ClassVar[str | None] = "multilabel_sequence_classification"
    activation: ClassVar[str] = "sigmoid"
    decision_rule: ClassVar[str] = "label predicted when probability >= its threshold"
    per_label_thresholds: ClassVar[bool] = True

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(logits)

    def decisions(
        self,
        probs: np.ndarray,
        label_names: Sequence[str],
        thresholds: Sequence[float] | None = None,
    ) -> list[dict[str, Any]]:
        """``labels``: the labels whose probability reaches their threshold."""
        chosen = apply_thresholds(probs, thresholds)
        return [
            {"labels": [name for name, hit in zip(label_names, hits, strict=True) if hit]}
            for hits in chosen
        ]


class MulticlassFormat(OutputFormat):
    name: ClassVar[str] = "multiclass"
    decision_rule: ClassVar[str] = "the class with the highest probability"

    def decisions(
        self,
        probs: np.ndarray,
        label_names: Sequence[str],
        thresholds: Sequence[float] | None = None,
    ) -> list[dict[str, Any]]:
        """``label``: the arg-max class, ``score``: its probability."""
        best = np.asarray(probs).argmax(axis=1)
        return [
            {"label": label_names[int(i)], "score": float(row[int(i)])}
            for row, i in zip(probs, best, strict=True)
        ]


class TokenFormat(OutputFormat):
    name: ClassVar[str] = "token"
    export_task: ClassVar[str | None] = "token_classification"
    logits_axes: ClassVar[tuple[str, ...]] = ("batch", "sequence", "tags")
    decision_rule: ClassVar[str] = (
        "argmax tag of each word, read at its first sub-token; words are split on whitespace "
        "and tokenised with is_split_into_words"
    )
    per_text: ClassVar[bool] = False

    def export_fields(
        self, label_names: Sequence[str], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Also the tag scheme and the tag of words the model cannot see (beyond max_length)."""
        fields = super().export_fields(label_names, options)
        return {**fields, "scheme": options["scheme"], "default_tag": label_names[0]}


#: task name -> its output format (names as in ``src.tasks.TASKS``)
FORMATS: dict[str, OutputFormat] = {
    fmt.name: fmt for fmt in (MultilabelFormat(), MulticlassFormat(), TokenFormat())
}


def output_format(name: str) -> OutputFormat:
    """The output format of the task called ``name``."""
    if name not in FORMATS:
        raise TextlabError(f"unknown task {name!r}; textlab knows {sorted(FORMATS)}")
    return FORMATS[name]


def task_of_export(export_task: str) -> str:
    """The task name behind an export folder's ``task`` field (folders that predate
    ``task_name``)."""
    for fmt in FORMATS.values():
        if fmt.export_task == export_task:
            return fmt.name
    raise TextlabError(f"unknown export task {export_task!r}; export the model again")
