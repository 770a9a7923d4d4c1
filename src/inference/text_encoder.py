"""Tokenise texts with the export's ``tokenizer.json`` (Rust ``tokenizers``, no transformers).

Matches what training did: special tokens added, truncated to ``max_length`` (long texts are
cut, never rejected), then padded to the batch's longest row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class TextEncoder:
    """Texts -> ``input_ids`` and ``attention_mask`` int64 arrays ``[batch, longest]``."""

    def __init__(self, tokenizer_file: str | Path, max_length: int, pad_token_id: int) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)
        self.pad_token_id = int(pad_token_id)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.pad(self.token_ids(texts))

    def pad(self, rows: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Right-pad token id rows to the longest one."""
        width = max(len(row) for row in rows)
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}
