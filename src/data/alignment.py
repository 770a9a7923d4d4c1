"""Word tags aligned to sub-tokens, and the batches of tagged sentences.

The first sub-token of each word carries the word's label; later sub-tokens and special tokens
get ``IGNORE`` (-100, cross-entropy's ignore_index), so every word is scored exactly once (the
Hugging Face ``run_ner`` rule). Words whose first sub-token falls beyond ``max_length`` are cut
off: they get no position, and scoring predicts the default tag for them, so F1 is not inflated.
A sentence's context (``src.data.context``) goes before it, unscored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from src.data.context import context_first
from src.errors import TextlabError
from src.tasks.token.metrics import IGNORE

# -- word labels to sub-token labels ---------------------------------------------------------


@dataclass
class EncodedSentence:
    """One sentence ready for the model.

    ``labels``: per sub-token, the word's label id at first sub-tokens, else -100.
    ``word_index``: per sub-token, the word number at first sub-tokens, else -1.
    ``word_labels``: the label id of every word, truncated ones included.
    """

    input_ids: list[int]
    labels: list[int]
    word_index: list[int]
    word_labels: list[int]

    @property
    def words_cut(self) -> int:
        """Words without a position (beyond max_length, or no sub-token at all)."""
        return len(self.word_labels) - sum(1 for i in self.word_index if i >= 0)


def first_subtoken_labels(
    word_ids: Sequence[int | None], word_labels: Sequence[int]
) -> tuple[list[int], list[int]]:
    """(labels, word_index) per sub-token from the tokenizer's ``word_ids()``.

    Example:
        >>> first_subtoken_labels([None, 0, 0, 1, None], [3, 5])
        ([-100, 3, -100, 5, -100], [-1, 0, -1, 1, -1])
    """
    labels, word_index = [], []
    previous = None
    for word in word_ids:
        if word is None or word == previous:
            labels.append(IGNORE)
            word_index.append(-1)
        else:
            labels.append(int(word_labels[word]))
            word_index.append(int(word))
        previous = word
    return labels, word_index


def with_context(
    tokenizer, encoded: EncodedSentence, context_ids: Sequence[int], max_length: int
) -> EncodedSentence:
    """``encoded`` with its context before it (``context_first``), never scored."""
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids = encoded.input_ids
    if cls is None or sep is None or not ids or ids[0] != cls or ids[-1] != sep:
        raise TextlabError(
            "data.context_sentences needs a tokenizer that starts a sequence with [CLS] and "
            "has a [SEP] token (BERT-style); set data.context_sentences=0 for this backbone"
        )
    ids, (labels, word_index) = context_first(
        ids, context_ids, max_length, (encoded.labels, IGNORE), (encoded.word_index, -1)
    )
    return EncodedSentence(ids, labels, word_index, encoded.word_labels)


def encode_sentences(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    label_ids: Sequence[Sequence[int]],
    max_length: int,
    batch_size: int = 512,
    contexts: Sequence[Sequence[str]] | None = None,
) -> list[EncodedSentence]:
    """Tokenise pre-split words (``is_split_into_words``), truncate, align the labels; with
    ``contexts`` (words per sentence), put each sentence's context before it (``with_context``)."""
    encoded: list[EncodedSentence] = []
    for start in range(0, len(sentences), batch_size):
        words = [list(s) for s in sentences[start : start + batch_size]]
        batch = tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        context_ids = None
        if contexts is not None:
            context_words = [list(c) or [""] for c in contexts[start : start + batch_size]]
            context_ids = tokenizer(
                context_words,
                is_split_into_words=True,
                add_special_tokens=False,
                return_attention_mask=False,
                return_token_type_ids=False,
            )["input_ids"]
        for row, ids in enumerate(batch["input_ids"]):
            word_labels = [int(x) for x in label_ids[start + row]]
            labels, index = first_subtoken_labels(batch.word_ids(row), word_labels)
            sentence = EncodedSentence(list(ids), labels, index, word_labels)
            if context_ids is not None:
                sentence = with_context(tokenizer, sentence, context_ids[row], max_length)
            encoded.append(sentence)
    return encoded


# -- datasets and padding --------------------------------------------------------------------
class TaggedDataset(Dataset):
    """Encoded sentences (token ids, aligned labels, word labels), one item per sentence."""

    def __init__(self, sentences: list[EncodedSentence]) -> None:
        self.sentences = sentences

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, index: int) -> EncodedSentence:
        return self.sentences[index]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


class TaggingCollator:
    """Batch of ``input_ids``/``attention_mask``/``labels``/``word_index`` [B, T] and
    ``word_labels`` [B, W] (the tags of all words, -100 padded; truncated words included)."""

    def __init__(self, pad_token_id: int | None) -> None:
        if pad_token_id is None:
            raise TextlabError("The tokenizer has no pad token; use a tokenizer with one.")
        self.pad_token_id = int(pad_token_id)

    def __call__(self, items: list[EncodedSentence]) -> dict[str, torch.Tensor]:
        input_ids = _pad([s.input_ids for s in items], self.pad_token_id)
        attention_mask = _pad([[1] * len(s.input_ids) for s in items], 0)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": _pad([s.labels for s in items], IGNORE),
            "word_index": _pad([s.word_index for s in items], -1),
            "word_labels": _pad([s.word_labels for s in items], IGNORE),
        }
