"""Dataset and collator for tagged sentences: pads each batch to its own longest row."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from src.data.token_alignment import IGNORE, EncodedSentence
from src.utils.errors import TextlabError


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
