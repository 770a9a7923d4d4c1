"""Token F1 under DDP: every rank scores the sentences of all ranks, not only its own shard."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from src.tasks.token.metrics import WordTagCollector, token_scores

LABELS = ["O", "B-person", "I-person", "B-location"]
# sentences as (gold, predicted) label ids, one word per position
SENTENCES = [
    ([1, 2, 0], [1, 2, 0]),  # person found
    ([0, 3], [0, 0]),  # location missed
    ([1, 0, 0], [0, 0, 1]),  # person missed, one spurious
    ([3, 0], [3, 0]),  # location found
    ([0, 1], [0, 1]),  # person found
]


def _batch(sentences) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits and a batch in which each word is one sub-token at its own position."""
    width = max(len(gold) for gold, _ in sentences)
    logits = torch.zeros(len(sentences), width, len(LABELS))
    word_index = torch.full((len(sentences), width), -1)
    word_labels = torch.full((len(sentences), width), -100)
    for row, (gold, pred) in enumerate(sentences):
        for position, (g, p) in enumerate(zip(gold, pred, strict=True)):
            logits[row, position, p] = 1.0
            word_index[row, position] = position
            word_labels[row, position] = g
    return logits, {"word_index": word_index, "word_labels": word_labels}


def _rank(rank: int, world_size: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        collector = WordTagCollector(LABELS, "bio")
        collector.update(*_batch(SENTENCES[rank::world_size]))  # disjoint shards
        torch.save(collector.compute(), f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_ranks_score_the_gathered_sentences(tmp_path: Path) -> None:
    out = str(tmp_path / "scores")
    mp.spawn(_rank, args=(2, str(tmp_path / "store"), out), nprocs=2, join=True)
    names = [[LABELS[i] for i in row] for row in (gold for gold, _ in SENTENCES)]
    guesses = [[LABELS[i] for i in row] for row in (pred for _, pred in SENTENCES)]
    expected = token_scores(names, guesses, "bio")
    assert expected["f1"] > 0 and expected["recall"] < 1  # a case where shards would differ
    for rank in range(2):
        assert torch.load(f"{out}.{rank}") == expected


def test_single_process_scores_its_own_rows() -> None:
    collector = WordTagCollector(LABELS, "bio")
    collector.update(*_batch(SENTENCES))
    gold = [[LABELS[i] for i in g] for g, _ in SENTENCES]
    pred = [[LABELS[i] for i in p] for _, p in SENTENCES]
    assert collector.compute() == token_scores(gold, pred, "bio")
    assert collector.compute() == {}  # reset after compute
