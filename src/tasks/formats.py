"""What a prediction is, for every task, outside PyTorch: the one JSON schema and how logits
become it (numpy, pydantic and the ``tokenizers`` library only), looked up by task name.

``python -m src.predict``, ``src.onnx_predict``, ``src.serve`` and the Python API
(``src.deploy``) all turn model outputs into predictions here, so the same text and
checkpoint give the same JSON everywhere:

- multi-label: every label's probability, the labels whose threshold they reach, and the
  thresholds (values and where they come from);
- multi-class: every class's probability, the arg-max class and its probability;
- token tagging: the spans (text, label, character start and end, score) read from the tag of
  each whitespace-separated word's first sub-token.

The task classes (``src.tasks.multilabel`` ...) import torch, so the torch-free half of each
task lives here: the ONNX path must run without torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from scipy.special import expit, softmax

from src.errors import TextlabError

#: decimals every probability and score is rounded to (the same JSON from every tool)
DECIMALS = 6
DEFAULT_THRESHOLD = 0.5
#: where a multi-label prediction's thresholds come from
TUNED, DEFAULT, FIXED = "tuned", "default", "fixed"


# -- the prediction schema --------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(_Strict):
    source: Literal["tuned", "default", "fixed"] = Field(
        description="tuned: the run's thresholds.json (tuned on validation); default: 0.5 "
        "(the run has none); fixed: the `thresholds=` option."
    )
    values: dict[str, float] = Field(description="Each label's threshold.")


class MultilabelPrediction(_Strict):
    text: str
    task: Literal["multilabel"]
    probabilities: dict[str, float] = Field(description="Every label's probability (sigmoid).")
    labels: list[str] = Field(description="Labels whose probability >= their threshold.")
    thresholds: Thresholds


class MulticlassPrediction(_Strict):
    text: str
    task: Literal["multiclass"]
    probabilities: dict[str, float] = Field(description="Every class's probability (softmax).")
    label: str = Field(description="The class with the highest probability.")
    score: float = Field(description="Its probability.")


class Span(_Strict):
    text: str = Field(description="text[start:end]")
    label: str
    start: int = Field(description="Character offset of the span's first character.")
    end: int = Field(description="Character offset just past its last character.")
    score: float = Field(description="Mean probability of its words' tags.")


class TokenPrediction(_Strict):
    text: str
    task: Literal["token"]
    spans: list[Span] = Field(description="Tagged spans, in text order.")


#: one prediction of any task (the ``task`` field says which)
Prediction = Annotated[
    MultilabelPrediction | MulticlassPrediction | TokenPrediction, Field(discriminator="task")
]
PREDICTION = TypeAdapter(Prediction)


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

    The rule ``src.metrics.multilabel`` scores with: a label is predicted when
    ``prob >= threshold`` (a probability equal to it counts).
    """
    return np.asarray(probs) >= np.asarray(thresholds, dtype=np.asarray(probs).dtype)


def _round(value: float) -> float:
    return round(float(value), DECIMALS)


def _per_label(names: Sequence[str], row: np.ndarray) -> dict[str, float]:
    return {name: _round(p) for name, p in zip(names, row, strict=True)}


class OutputFormat:
    """A task's predictions as numbers and JSON: inputs, probabilities, predictions, export
    fields."""

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


class MultilabelFormat(OutputFormat):
    name: ClassVar[str] = "multilabel"
    export_task: ClassVar[str | None] = "multilabel_sequence_classification"
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
            "values": _per_label(names, labels.thresholds),
        }
        return [
            {
                "text": text,
                "task": self.name,
                "probabilities": _per_label(names, row),
                "labels": [name for name, hit in zip(names, hits, strict=True) if hit],
                "thresholds": thresholds,
            }
            for text, row, hits in zip(texts, probs, chosen, strict=True)
        ]


class MulticlassFormat(OutputFormat):
    name: ClassVar[str] = "multiclass"
    export_task: ClassVar[str | None] = "multiclass_sequence_classification"
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
                    "probabilities": _per_label(labels.names, row),
                    "label": labels.names[best],
                    "score": _round(row[best]),
                }
            )
        return rows


# -- token spans --------------------------------------------------------------------------------
def _span(text: str, words: list, label: str, scores: list[float]) -> dict[str, Any]:
    start, end = words[0][1], words[-1][2]
    return {
        "text": text[start:end],
        "label": label,
        "start": start,
        "end": end,
        "score": _round(sum(scores) / len(scores)),
    }


def bio_spans(text: str, words: list, tags: list[str], scores: list[float]) -> list[dict]:
    """Merge B-/I- runs into spans the way seqeval's default mode reads them (``I-x`` after
    ``O`` or another type opens a new span); a span's score is the mean of its words'."""
    spans, current, kind = [], [], None
    for word, tag, score in zip(words, tags, scores, strict=True):
        prefix, _, label = tag.partition("-")
        if current and (prefix != "I" or label != kind):
            spans.append(_span(text, [w for w, _ in current], kind, [s for _, s in current]))
            current, kind = [], None
        if prefix in ("B", "I"):
            current.append((word, score))
            kind = label
    if current:
        spans.append(_span(text, [w for w, _ in current], kind, [s for _, s in current]))
    return spans


def binary_spans(text: str, words: list, tags: list[str], scores: list[float]) -> list[dict]:
    """Each word tagged ``1`` (e.g. a metaphor) as a span of its own."""
    return [
        _span(text, [word], tag, [score])
        for word, tag, score in zip(words, tags, scores, strict=True)
        if tag == "1"
    ]


#: tag scheme -> how words' tags become spans
SPAN_READERS: dict[str, Callable[..., list[dict]]] = {"bio": bio_spans, "binary": binary_spans}


def first_subtokens(word_ids: Sequence[int | None]) -> list[tuple[int, int]]:
    """(word index, position of its first sub-token) for every word the model sees, in order
    (words cut off by max_length, or without any sub-token, are absent)."""
    seen: set[int] = set()
    out = []
    for position, word in enumerate(word_ids):
        if word is not None and word not in seen:
            seen.add(word)
            out.append((word, position))
    return out


def word_tags_from_probs(
    word_ids: Sequence[int | None], probs: np.ndarray, tag_names: Sequence[str]
) -> tuple[list[int], list[str], list[float]]:
    """(word indices, tag, its probability) of every word the model sees, each read at its
    first sub-token; ``probs``: ``[tokens, tags]``."""
    found = first_subtokens(word_ids)
    best = [int(np.argmax(probs[position])) for _, position in found]
    return (
        [word for word, _ in found],
        [tag_names[k] for k in best],
        [float(probs[position, k]) for (_, position), k in zip(found, best, strict=True)],
    )


class TokenFormat(OutputFormat):
    name: ClassVar[str] = "token"
    export_task: ClassVar[str | None] = "token_classification"
    logits_axes: ClassVar[tuple[str, ...]] = ("batch", "sequence", "tags")
    decision_rule: ClassVar[str] = (
        "argmax tag of each word, read at its first sub-token; words are split on whitespace "
        "and tokenised with is_split_into_words"
    )
    per_text: ClassVar[bool] = False
    schema: ClassVar[type[BaseModel]] = TokenPrediction
    reads_context: ClassVar[bool] = True

    def inputs(
        self, encoder: Any, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> list[ModelInput]:
        """Whitespace-split words, tokenised as pre-split words (as training did); each
        text's context (the sentences before it, unscored) goes before it as training with
        ``data.context_sentences`` put it."""
        words = [split_words(text) for text in texts]
        context_words = None
        if contexts is not None:
            context_words = [[w for w, _, _ in split_words(c)] for c in contexts]
        encoded = encoder.word_encodings([[w for w, _, _ in ws] for ws in words], context_words)
        return [
            ModelInput(ids, word_ids, ws)
            for (ids, word_ids), ws in zip(encoded, words, strict=True)
        ]

    def _rows(self, texts, inputs, probs, labels) -> list[dict[str, Any]]:
        scheme = labels.options.get("scheme")
        if scheme not in SPAN_READERS:
            raise TextlabError(
                f"unknown tag scheme {scheme!r}; expected one of {list(SPAN_READERS)}"
            )
        merge = SPAN_READERS[scheme]
        rows = []
        for text, given, row in zip(texts, inputs, probs, strict=True):
            index, tags, scores = word_tags_from_probs(given.word_ids, row, labels.names)
            words = [given.words[i] for i in index]
            rows.append(
                {"text": text, "task": self.name, "spans": merge(text, words, tags, scores)}
            )
        return rows

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
