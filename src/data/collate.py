"""Dataset over pre-tokenised ids and a collator that pads each batch to its own longest row.

Padding per batch instead of to max_length saves most of the compute on short comments.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from src.utils.errors import TextlabError


class TokenizedDataset(Dataset):
    """Token ids (unpadded) with a float32 [N, L] label matrix; -1 marks an unscored label."""

    def __init__(self, input_ids: list[list[int]], labels: np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.float32)
        if labels.ndim == 1:
            labels = labels[:, None]
        if len(input_ids) != len(labels):
            raise ValueError(f"{len(input_ids)} token rows but {len(labels)} label rows")
        self.input_ids = input_ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}


class PaddingCollator:
    """Pad a list of items to the batch's longest sequence (right padding).

    Example:
        >>> batch = PaddingCollator(0)([{"input_ids": [5, 6], "labels": np.zeros(1)},
        ...                            {"input_ids": [7], "labels": np.ones(1)}])
        >>> batch["input_ids"].tolist(), batch["attention_mask"].tolist()
        ([[5, 6], [7, 0]], [[1, 1], [1, 0]])
    """

    def __init__(self, pad_token_id: int | None) -> None:
        if pad_token_id is None:
            raise TextlabError(
                "The tokenizer has no pad token, so batches cannot be padded; "
                "use a tokenizer with a pad token (or set tokenizer.pad_token)."
            )
        self.pad_token_id = int(pad_token_id)

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            ids = item["input_ids"]
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        labels = torch.as_tensor(np.stack([item["labels"] for item in items]), dtype=torch.float)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
