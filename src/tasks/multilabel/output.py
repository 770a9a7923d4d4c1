"""Multi-label predictions outside PyTorch: each label's sigmoid probability, the labels at or
above their thresholds, and where the thresholds come from."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from src.errors import TextlabError
from src.tasks.output import (
    OutputFormat,
    StrictModel,
    Thresholds,
    apply_thresholds,
    per_label,
    sigmoid,
)


class MultilabelPrediction(StrictModel):
    text: str
    task: Literal["multilabel"]
    probabilities: dict[str, float] = Field(description="Every label's probability (sigmoid).")
    labels: list[str] = Field(description="Labels whose probability >= their threshold.")
    thresholds: Thresholds


class MultilabelFormat(OutputFormat):
    name: ClassVar[str] = "multilabel"
    export_task: ClassVar[str | None] = "multilabel_sequence_classification"
    hf_problem_type: ClassVar[str | None] = "multi_label_classification"
    activation: ClassVar[str] = "sigmoid"
    decision_rule: ClassVar[str] = "label predicted when probability >= its threshold"
    per_label_thresholds: ClassVar[bool] = True
    schema: ClassVar[type[BaseModel]] = MultilabelPrediction

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(logits)

    def _rows(self, texts, inputs, probs, labels) -> list[dict[str, Any]]:
        if labels.thresholds is None:
            raise TextlabError("a multi-label model needs one threshold per label")
        names = labels.names
        chosen = apply_thresholds(
            np.asarray(probs).reshape(len(texts), len(names)), labels.thresholds
        )
        thresholds = {
            "source": labels.threshold_source,
            "values": per_label(names, labels.thresholds),
        }
        return [
            {
                "text": text,
                "task": self.name,
                "probabilities": per_label(names, row),
                "labels": [name for name, hit in zip(names, hits, strict=True) if hit],
                "thresholds": thresholds,
            }
            for text, row, hits in zip(texts, probs, chosen, strict=True)
        ]
