"""What a prediction is outside PyTorch, the part every task shares: the strict schema base,
the label set and thresholds option, model inputs, rounding, and the ``OutputFormat`` base each
task's ``output`` module implements (numpy, pydantic and ``tokenizers`` only)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import expit, softmax

from src.errors import TextlabError

#: decimals every probability and score is rounded to (the same JSON from every tool)
DECIMALS = 6


DEFAULT_THRESHOLD = 0.5


#: where a multi-label prediction's thresholds come from
TUNED, DEFAULT, FIXED = "tuned", "default", "fixed"


# -- the prediction schema --------------------------------------------------------------------
class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(StrictModel):
    source: Literal["tuned", "default", "fixed"] = Field(
        description="tuned: the run's thresholds.json (tuned on validation); default: 0.5 "
        "(the run has none); fixed: the `thresholds=` option."
    )
    values: dict[str, float] = Field(description="Each label's threshold.")


# -- what a model's labels mean -----------------------------------------------------------------
@dataclass(frozen=True)
class LabelSet:
    """The label names and how predictions are decided from them."""

    names: tuple[str, ...]
    #: one threshold per label, in label order (tasks with per-label thresholds)
    thresholds: tuple[float, ...] | None = None
    threshold_source: str | None = None
    #: the task's options (a tagger's ``scheme``)
    options: Mapping[str, Any] = field(default_factory=dict)


def threshold_option(value: Any) -> float | None:
    """``tuned`` -> None (the model's own thresholds); a number in [0, 1] -> that threshold."""
    if isinstance(value, str) and value.strip().lower() == TUNED:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise TextlabError(f"thresholds must be 'tuned' or a number in [0, 1], got {value!r}")
    return number


# -- model inputs -------------------------------------------------------------------------------
WORD = re.compile(r"\S+")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each whitespace-separated word."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


@dataclass
class ModelInput:
    """One text as the model sees it: token ids, and for taggers its words and which word each
    token belongs to."""

    ids: list[int]
    word_ids: list[int | None] | None = None
    words: list[tuple[str, int, int]] | None = None


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """float32 sigmoid (scipy's ``expit``: no overflow warnings for large logits)."""
    return expit(np.asarray(logits, dtype=np.float32))


def apply_thresholds(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Boolean ``[N, L]``: which labels each row predicts.

    The rule ``src.tasks.multilabel.metrics`` scores with: a label is predicted when
    ``prob >= threshold`` (a probability equal to it counts).
    """
    return np.asarray(probs) >= np.asarray(thresholds, dtype=np.asarray(probs).dtype)


def round_score(value: float) -> float:
    return round(float(value), DECIMALS)


def per_label(names: Sequence[str], row: np.ndarray) -> dict[str, float]:
    return {name: round_score(p) for name, p in zip(names, row, strict=True)}


class OutputFormat:
    """A task's predictions as numbers and JSON: inputs, probabilities, predictions, export
    fields."""

    name: ClassVar[str]
    #: the ``task`` field of an export folder (kept for its readers); None: not exportable yet
    export_task: ClassVar[str | None] = None
    #: transformers' ``problem_type`` of a stock sequence classifier for this task (None: none)
    hf_problem_type: ClassVar[str | None] = None
    #: what the logits' axes are
    logits_axes: ClassVar[tuple[str, ...]] = ("batch", "labels")
    activation: ClassVar[str] = "softmax"
    decision_rule: ClassVar[str]
    #: decisions cut each label's probability at its threshold (``thresholds.json``), as
    #: the task's ``per_label_thresholds`` says
    per_label_thresholds: ClassVar[bool] = False
    #: one output row per text (sequence classifiers); False: one per token (taggers)
    per_text: ClassVar[bool] = True
    #: the JSON of one prediction
    schema: ClassVar[type[BaseModel]]
    #: whether the model can read a context before each text (taggers: data.context_sentences)
    reads_context: ClassVar[bool] = False

    def inputs(
        self, encoder: Any, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> list[ModelInput]:
        """What the model reads for each text (``encoder``: a ``src.deploy.folder.TextEncoder``);
        ``contexts``: the text before each one, read by token taggers only."""
        self.check_contexts(contexts)
        return [ModelInput(ids) for ids in encoder.token_ids(texts)]

    def check_contexts(self, contexts: Sequence[str] | None) -> None:
        """Contexts are for formats that read them (``reads_context``)."""
        if contexts is not None and not self.reads_context:
            raise TextlabError(
                f"context is read by token taggers only; a {self.name} model takes the texts alone"
            )

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """float32 probabilities from logits (softmax over the last axis by default)."""
        return softmax(np.asarray(logits, dtype=np.float32), axis=-1).astype(np.float32)

    def predictions(
        self,
        texts: Sequence[str],
        inputs: Sequence[ModelInput],
        probs: Sequence[np.ndarray],
        labels: LabelSet,
    ) -> list[dict[str, Any]]:
        """One prediction (the task's ``schema``, as a dict) per text; ``probs``: per text, its
        probabilities (``[labels]``, or ``[tokens, tags]`` for taggers)."""
        rows = self._rows(texts, inputs, probs, labels)
        return [self.schema(**row).model_dump() for row in rows]

    def _rows(self, texts, inputs, probs, labels) -> list[dict[str, Any]]:
        raise NotImplementedError

    def export_fields(
        self, label_names: Sequence[str], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What ``export_config.json`` tells a reader about reading the logits."""
        return {
            "logits_axes": list(self.logits_axes),
            "activation": self.activation,
            "decision_rule": self.decision_rule,
        }
