"""Token-tagging predictions outside PyTorch: spans read from the tag of each whitespace-
separated word's first sub-token (BIO entities or binary metaphor tags)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from src.errors import TextlabError
from src.tasks.output import ModelInput, OutputFormat, StrictModel, round_score, split_words


class Span(StrictModel):
    text: str = Field(description="text[start:end]")
    label: str
    start: int = Field(description="Character offset of the span's first character.")
    end: int = Field(description="Character offset just past its last character.")
    score: float = Field(description="Mean probability of its words' tags.")


class TokenPrediction(StrictModel):
    text: str
    task: Literal["token"]
    spans: list[Span] = Field(description="Tagged spans, in text order.")


# -- token spans --------------------------------------------------------------------------------
def _span(
    text: str, words: list[tuple[str, int, int]], label: str, scores: list[float]
) -> dict[str, Any]:
    start, end = words[0][1], words[-1][2]
    return {
        "text": text[start:end],
        "label": label,
        "start": start,
        "end": end,
        "score": round_score(sum(scores) / len(scores)),
    }


def bio_spans(text: str, words: list, tags: list[str], scores: list[float]) -> list[dict]:
    """Merge B-/I- runs into spans the way seqeval's default mode reads them (``I-x`` after
    ``O`` or another type opens a new span); a span's score is the mean of its words'."""
    spans: list[dict] = []
    current: list[tuple[tuple[str, int, int], float]] = []
    kind = ""  # the open span's label; read only while `current` holds words
    for word, tag, score in zip(words, tags, scores, strict=True):
        prefix, _, label = tag.partition("-")
        if current and (prefix != "I" or label != kind):
            spans.append(_span(text, [w for w, _ in current], kind, [s for _, s in current]))
            current, kind = [], ""
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


#: tag scheme -> how words' tags become spans
SPAN_READERS: dict[str, Callable[..., list[dict]]] = {"bio": bio_spans, "binary": binary_spans}
