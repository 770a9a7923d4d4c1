"""Tag raw texts with a token model and return word-level spans with scores.

Texts are split on whitespace (character offsets kept), tokenised as training did
(``is_split_into_words``, truncated to max_length), and each word takes the prediction and
softmax score of its first sub-token. BIO tags are merged into entity spans the way seqeval's
default mode reads them (``I-x`` after ``O`` or another type opens a new span); for the binary
scheme every word tagged ``1`` is its own span. Words beyond max_length get no span.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from src.data.token_alignment import first_subtoken_labels

WORD = re.compile(r"\S+")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each whitespace-separated word."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def _span(text: str, words: list[tuple[str, int, int]], label: str, scores: list[float]) -> dict:
    start, end = words[0][1], words[-1][2]
    return {
        "text": text[start:end],
        "label": label,
        "start": start,
        "end": end,
        "score": float(sum(scores) / len(scores)),
    }


def bio_spans(text: str, words: list, tags: list[str], scores: list[float]) -> list[dict]:
    """Merge B-/I- runs into spans; the span score is the mean of its words' scores."""
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


@torch.no_grad()
def word_tags(
    model: Any, tokenizer: Any, word_lists: Sequence[Sequence[str]], max_length: int
) -> list[tuple[list[str], list[float]]]:
    """(tag, softmax score) of every word the model sees (words beyond max_length dropped)."""
    if not word_lists:
        return []
    encoded = tokenizer(
        [list(w) for w in word_lists],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
    device = next(model.parameters()).device
    logits = model(encoded["input_ids"].to(device), encoded["attention_mask"].to(device))
    probs = torch.softmax(logits.float(), dim=-1).cpu()
    score, index = probs.max(dim=-1)
    out = []
    for row, words in enumerate(word_lists):
        _, word_index = first_subtoken_labels(encoded.word_ids(row), [0] * len(words))
        positions = [p for p, w in enumerate(word_index) if w >= 0]
        tags = [model.label_names[int(index[row, p])] for p in positions]
        out.append((tags, [float(score[row, p]) for p in positions]))
    return out


def predict_token_spans(
    model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 32
) -> list[list[dict]]:
    """Per text, the predicted spans ``{"text", "label", "start", "end", "score"}``.

    ``model``: a ``TokenTagger`` (its ``label_names`` and ``scheme`` are used), in eval mode.
    """
    merge = bio_spans if model.scheme == "bio" else binary_spans
    results: list[list[dict]] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        words = [split_words(text) for text in chunk]
        nonempty = [i for i, w in enumerate(words) if w]
        word_lists = [[w for w, _, _ in words[i]] for i in nonempty]
        tagged = word_tags(model, tokenizer, word_lists, max_length)
        by_text = dict(zip(nonempty, tagged, strict=True))
        for i, text in enumerate(chunk):
            tags, scores = by_text.get(i, ([], []))
            results.append(merge(text, words[i][: len(tags)], tags, scores))
    return results
