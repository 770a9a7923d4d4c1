"""Collect word-level tags over an epoch and score them with ``token_scores`` at its end.

Sub-token logits are turned back into one tag per word (the word's first sub-token); words that
have no position (cut off by max_length) are predicted as the default tag, so every gold word is
scored and truncation cannot inflate F1.
"""

from __future__ import annotations

import torch

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

    Plain lists, not a torchmetrics Metric: seqeval needs whole tag sequences. Under DDP each
    process scores its own shard of the evaluation set.
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
        scores = token_scores(self.gold, self.pred, self.scheme) if self.gold else {}
        self.gold, self.pred = [], []
        return scores
