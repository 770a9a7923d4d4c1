"""Features from a frozen encoder: one pooled vector per text, or the first sub-token vector of
each word. Batched, no-grad, optional bf16 autocast; texts are sorted by length so a batch pads
little, and the result comes back in input order."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import torch

from src.models.poolers import build_pooler

log = logging.getLogger(__name__)


def _autocast(bf16: bool, device: torch.device):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _batches(lengths: list[int], batch_size: int) -> Iterator[np.ndarray]:
    """Row indices grouped into batches of similar length (longest first)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _hidden(encoder, encoded, device: torch.device, bf16: bool) -> torch.Tensor:
    inputs = {k: encoded[k].to(device) for k in ("input_ids", "attention_mask")}
    with torch.inference_mode(), _autocast(bf16, device):
        return encoder(**inputs).last_hidden_state.float()


@torch.inference_mode()
def sentence_vectors(
    encoder,
    tokenizer,
    texts: list[str],
    max_length: int,
    pooling: str,
    batch_size: int = 64,
    bf16: bool = False,
) -> np.ndarray:
    """``[N, hidden]`` float32: the [CLS] vector (``cls``) or attention-masked ``mean``."""
    pooler = build_pooler(pooling)
    device = next(encoder.parameters()).device
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    for index in _batches([len(t) for t in texts], batch_size):
        encoded = tokenizer(
            [texts[i] for i in index],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        hidden = _hidden(encoder, encoded, device, bf16)
        pooled = pooler(hidden, encoded["attention_mask"].to(device))
        out[index] = pooled.cpu().numpy()
    return out


@torch.inference_mode()
def word_vectors(
    encoder,
    tokenizer,
    sentences: list[list[str]],
    max_length: int,
    batch_size: int = 64,
    bf16: bool = False,
) -> tuple[np.ndarray, int]:
    """``[total words, hidden]``: each word's first sub-token vector, sentences in order.

    Words without a sub-token (cut off by ``max_length``, or empty after tokenisation) get a
    zero vector; returns how many there were.
    """
    device = next(encoder.parameters()).device
    starts = np.cumsum([0] + [len(words) for words in sentences])
    out = np.zeros((int(starts[-1]), encoder.config.hidden_size), dtype=np.float32)
    truncated = 0
    lengths = [sum(len(w) for w in words) for words in sentences]
    for index in _batches(lengths, batch_size):
        encoded = tokenizer(
            [sentences[i] for i in index],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        hidden = _hidden(encoder, encoded, device, bf16).cpu().numpy()
        for row, i in enumerate(index):
            first: dict[int, int] = {}
            for position, word in enumerate(encoded.word_ids(row)):
                if word is not None and word not in first:
                    first[word] = position
            truncated += len(sentences[i]) - len(first)
            for word, position in first.items():
                out[starts[i] + word] = hidden[row, position]
    if truncated:
        log.warning("%d words lay beyond max_length=%d: zero vectors", truncated, max_length)
    return out, truncated
