"""Collect word-level tags over an epoch and score them with ``token_scores`` at its end.

Sub-token logits are turned back into one tag per word (the word's first sub-token); words that
have no position (cut off by max_length) are predicted as the default tag, so every gold word is
scored and truncation cannot inflate F1.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from src.metrics.token import token_scores


def word_predictions(
    logits: torch.Tensor, word_index: torch.Tensor, word_labels: torch.Tensor, default: int = 0
) -> tuple[list[list[int]], list[list[int]]]:
    """(gold, predicted) label ids per sentence, over all of its words."""
    predicted = logits.argmax(dim=-1).cpu()
    word_index, word_labels = word_index.cpu(), word_labels.cpu()
    gold_rows, pred_rows = [], []
    for row in range(len(word_labels)):
        gold = word_labels[row][word_labels[row] >= 0]
        pred = torch.full_like(gold, default)
        positions = word_index[row] >= 0
        pred[word_index[row][positions]] = predicted[row][positions]
        gold_rows.append(gold.tolist())
        pred_rows.append(pred.tolist())
    return gold_rows, pred_rows


class WordTagCollector:
    """Accumulates one epoch of word tags; ``compute`` scores them and resets.

    Plain lists, not a torchmetrics Metric: seqeval needs whole tag sequences. Under DDP the
    sentences of every process (disjoint shards, see src/data/distributed.py) are gathered
    before scoring, so each rank reports the score of the whole evaluation set.
    """

    def __init__(self, label_names: list[str], scheme: str) -> None:
        self.label_names = list(label_names)
        self.scheme = scheme
        self.gold: list[list[str]] = []
        self.pred: list[list[str]] = []

    def update(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> None:
        gold, pred = word_predictions(logits, batch["word_index"], batch["word_labels"])
        self.gold.extend([self.label_names[i] for i in row] for row in gold)
        self.pred.extend([self.label_names[i] for i in row] for row in pred)

    def compute(self) -> dict[str, float]:
        gold, pred = gather_rows(self.gold), gather_rows(self.pred)
        self.gold, self.pred = [], []
        return token_scores(gold, pred, self.scheme) if gold else {}


def gather_rows(rows: list[list[str]]) -> list[list[str]]:
    """The rows of every process in rank order (this process's rows outside DDP)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows
    everyone: list[list[list[str]] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, rows)
    return [row for part in everyone for row in (part or [])]
