"""Multi-class predictions outside PyTorch: the softmax over classes and the arg-max class."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from src.tasks.output import OutputFormat, StrictModel, per_label, round_score


class MulticlassPrediction(StrictModel):
    text: str
    task: Literal["multiclass"]
    probabilities: dict[str, float] = Field(description="Every class's probability (softmax).")
    label: str = Field(description="The class with the highest probability.")
    score: float = Field(description="Its probability.")


class MulticlassFormat(OutputFormat):
    name: ClassVar[str] = "multiclass"
    export_task: ClassVar[str | None] = "multiclass_sequence_classification"
    hf_problem_type: ClassVar[str | None] = "single_label_classification"
    decision_rule: ClassVar[str] = "the class with the highest probability"
    schema: ClassVar[type[BaseModel]] = MulticlassPrediction

    def _rows(self, texts, inputs, probs, labels) -> list[dict[str, Any]]:
        rows = []
        for text, row in zip(texts, probs, strict=True):
            best = int(np.argmax(row))
            rows.append(
                {
                    "text": text,
                    "task": self.name,
                    "probabilities": per_label(labels.names, row),
                    "label": labels.names[best],
                    "score": round_score(row[best]),
                }
            )
        return rows
