"""Would a metaphor threshold tuned on validation beat the argmax? Per checkpoint of a binary
token tagger (VUA): the word-level F1-best threshold on P(tag "1") on validation, and F1 at 0.5
and at that threshold on validation and test.

    PYTHONPATH=. .venv/bin/python experiments/token_tasks/word_threshold.py \
        logs/token_vua/multiruns/<time>/<job>/checkpoints/best.ckpt ...
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from sklearn.metrics import precision_recall_curve, precision_recall_fscore_support

from src.config import build_datamodule
from src.runs.loading import load_run


def word_probabilities(model, loader) -> tuple[np.ndarray, np.ndarray]:
    """P(tag "1") and the gold tag of every word (first sub-token; cut-off words get 0)."""
    probs, gold = [], []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for batch in loader:
            logits = model(batch["input_ids"], batch["attention_mask"]).float()
            positive = torch.softmax(logits, -1)[..., 1]
            for row, labels in enumerate(batch["word_labels"]):
                words = labels[labels >= 0]
                word_probs = torch.zeros(len(words))
                seen = batch["word_index"][row] >= 0
                word_probs[batch["word_index"][row][seen]] = positive[row][seen]
                probs.append(word_probs.numpy())
                gold.append(words.numpy())
    return np.concatenate(probs), np.concatenate(gold)


def f1_at(probs: np.ndarray, gold: np.ndarray, threshold: float) -> float:
    return float(precision_recall_fscore_support(gold, probs >= threshold, average="binary")[2])


def main(checkpoints: list[str]) -> None:
    print("checkpoint | threshold | val F1 @0.5 | val F1 tuned | test F1 @0.5 | test F1 tuned")
    for ckpt in checkpoints:
        run = load_run(ckpt)
        datamodule = build_datamodule(run.cfg.data)
        datamodule.prepare_data()
        datamodule.setup("fit")
        datamodule.setup("test")
        val = word_probabilities(run.model, datamodule.val_dataloader())
        test = word_probabilities(run.model, datamodule.test_dataloader())
        precision, recall, thresholds = precision_recall_curve(val[1], val[0])
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = float(thresholds[np.argmax(f1[:-1])])
        scores = [f1_at(*val, 0.5), f1_at(*val, best), f1_at(*test, 0.5), f1_at(*test, best)]
        print(ckpt, f"| {best:.2f} |", " | ".join(f"{s:.4f}" for s in scores), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
