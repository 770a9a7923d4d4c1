"""Token-classification scores: seqeval entity spans (BIO) or the positive class over words,
and the collector that turns an epoch of sub-token logits into word tags to score.

``scheme="bio"`` (WNUT-17, CoNLL NER): entity-level micro precision / recall / F1 and the same
per entity type, from seqeval in its default mode, which scores like the ``conlleval`` script
(an ``I-x`` after ``O`` or after another type starts a new entity). An entity counts as found
only when its type and both its ends match.
``scheme="binary"`` (VUA metaphor, tags ``"0"``/``"1"``): precision / recall / F1 of class
``"1"`` over all words, plus word accuracy: the standard VUA metaphor-detection scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from src.errors import TextlabError

#: the label of a sub-token that is not scored (cross-entropy's ignore_index)
IGNORE = -100
SCHEMES = ("bio", "binary")
POSITIVE = "1"


def _check(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> None:
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"{len(true_tags)} true sentences but {len(pred_tags)} predicted")
    for i, (true, pred) in enumerate(zip(true_tags, pred_tags, strict=True)):
        if len(true) != len(pred):
            raise ValueError(f"sentence {i}: {len(true)} true tags but {len(pred)} predicted")


def _bio_scores(true_tags: list[list[str]], pred_tags: list[list[str]]) -> dict[str, float]:
    scores = {
        "precision": precision_score(true_tags, pred_tags, zero_division=0),
        "recall": recall_score(true_tags, pred_tags, zero_division=0),
        "f1": f1_score(true_tags, pred_tags, zero_division=0),
    }
    report = classification_report(true_tags, pred_tags, output_dict=True, zero_division=0)
    for name, row in report.items():
        if name.endswith(" avg"):
            continue
        for key, metric in (("precision", "precision"), ("recall", "recall"), ("f1-score", "f1")):
            scores[f"{metric}/{name}"] = row[key]
    return scores


def _binary_scores(true_tags: list[list[str]], pred_tags: list[list[str]]) -> dict[str, float]:
    true = [t for sentence in true_tags for t in sentence]
    pred = [t for sentence in pred_tags for t in sentence]
    precision, recall, f1, _ = precision_recall_fscore_support(
        true, pred, labels=[POSITIVE], average="binary", pos_label=POSITIVE, zero_division=0
    )
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": accuracy_score(true, pred),
    }


def token_scores(
    true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]], scheme: str
) -> dict[str, float]:
    """Scores of predicted tags against true tags, one tag list per sentence.

    Example:
        >>> token_scores([["B-person", "I-person", "O"]], [["B-person", "O", "O"]], "bio")["f1"]
        0.0
    """
    if scheme not in SCHEMES:
        raise TextlabError(f"data.scheme must be one of {list(SCHEMES)}, got {scheme!r}")
    _check(true_tags, pred_tags)
    true, pred = [list(s) for s in true_tags], [list(s) for s in pred_tags]
    scores = _bio_scores(true, pred) if scheme == "bio" else _binary_scores(true, pred)
    return {key: float(value) for key, value in scores.items()}


# -- collecting an epoch's word tags ------------------------------------------------------
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
        self.reset()
        return token_scores(gold, pred, self.scheme) if gold else {}

    def reset(self) -> None:
        self.gold, self.pred = [], []


def gather_rows(rows: list[list[str]]) -> list[list[str]]:
    """The rows of every process in rank order (this process's rows outside DDP)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows
    everyone: list[list[list[str]] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, rows)
    return [row for part in everyone for row in (part or [])]
