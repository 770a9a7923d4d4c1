"""Evaluation batches sorted by length: less padding, the same scores, predictions in file order."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as L
import numpy as np
import pytest
import torch

from src.config import build, build_datamodule
from src.data.batching import ROW_INDEX, LengthSortedSampler, row_lengths
from src.errors import TextlabError
from src.evaluation.predictions import PREDICTIONS_FILE, stack_predictions

SPLITS = ("val", "test")


def datamodule(make_cfg, sort: bool, *overrides: str):
    cfg = make_cfg(f"data.sort_eval_by_length={sort}", *overrides)
    dm = build_datamodule(cfg.data)
    dm.prepare_data()
    dm.setup()
    return dm


def loader(dm, split: str):
    return dm.val_dataloader() if split == "val" else dm.test_dataloader()


def padded_slots(batches) -> int:
    return sum(int((b["attention_mask"] == 0).sum()) for b in batches)


def test_sorted_loaders_pad_less_and_yield_every_row_once(make_cfg) -> None:
    sizes = ("data.max_length=64", "data.eval_batch_size=16")
    plain, sorted_ = datamodule(make_cfg, False, *sizes), datamodule(make_cfg, True, *sizes)
    for split in SPLITS:
        before, after = list(loader(plain, split)), list(loader(sorted_, split))
        rows = len(sorted_.dataset(split))
        # file order without sorting; every row exactly once with it
        assert torch.cat([b[ROW_INDEX] for b in before]).tolist() == list(range(rows))
        assert sorted(torch.cat([b[ROW_INDEX] for b in after]).tolist()) == list(range(rows))
        widths = [b["input_ids"].shape[1] for b in after]
        assert widths == sorted(widths, reverse=True)  # longest first
        assert padded_slots(after) < padded_slots(before) / 2
        # each batch row is the dataset row its position names
        lengths = row_lengths(sorted_.dataset(split))
        for batch in after:
            expected = lengths[batch[ROW_INDEX].numpy()].tolist()
            assert batch["attention_mask"].sum(dim=1).tolist() == expected


def test_sampler_shards_and_sorts_under_ddp() -> None:
    lengths = [4, 1, 7, 7, 2]
    shards = [list(LengthSortedSampler(lengths, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(5))  # disjoint, nothing repeated
    for shard in shards:
        assert [lengths[i] for i in shard] == sorted((lengths[i] for i in shard), reverse=True)
    assert list(LengthSortedSampler(lengths)) == [2, 3, 0, 4, 1]  # ties keep their order


def test_switch_must_be_a_bool(make_cfg) -> None:
    cfg = make_cfg("data.sort_eval_by_length=yes")
    with pytest.raises(TextlabError, match="data.sort_eval_by_length"):
        build_datamodule(cfg.data)


def file_order_probs(model, dm, split: str) -> np.ndarray:
    """The model's probabilities row by row in dataset order, one row per forward pass."""
    dataset, collate = dm.dataset(split), dm.collator()
    with torch.no_grad():
        rows = [collate([dataset[i]]) for i in range(len(dataset))]
        logits = torch.cat([model(b["input_ids"], b["attention_mask"]) for b in rows])
    return torch.sigmoid(logits.float()).numpy()


def test_scores_and_saved_predictions_do_not_depend_on_the_order(make_cfg, tmp_path) -> None:
    from src.callbacks.analyses import SavePredictions

    sizes = ("data.max_length=64", "data.eval_batch_size=16")
    cfg = make_cfg(*sizes)
    L.seed_everything(0, verbose=False)
    model = build(cfg.model, label_names=list(cfg.data.label_columns)).eval()
    outcome = {}
    for sort in (False, True):
        dm = datamodule(make_cfg, sort, *sizes)
        run_dir = tmp_path / f"sort_{sort}"
        trainer = L.Trainer(
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=str(run_dir),
            callbacks=[SavePredictions()],
        )
        scores = {
            **trainer.validate(model, datamodule=dm, verbose=False)[0],
            **trainer.test(model, datamodule=dm, verbose=False)[0],
        }
        predicted = trainer.predict(model, datamodule=dm)
        stacked = {
            s: stack_predictions(b, model.task) for s, b in zip(SPLITS, predicted, strict=True)
        }
        with np.load(Path(run_dir) / PREDICTIONS_FILE) as saved:
            outcome[sort] = (scores, stacked, {k: saved[k] for k in saved.files})
        for split in SPLITS:  # file order, row by row
            expected = file_order_probs(model, dm, split)
            np.testing.assert_allclose(stacked[split].probs, expected, atol=1e-5)
            np.testing.assert_allclose(outcome[sort][2][f"{split}_probs"], expected, atol=1e-5)
            targets = dm.dataset(split).labels
            np.testing.assert_array_equal(stacked[split].targets, targets)
            np.testing.assert_array_equal(outcome[sort][2][f"{split}_targets"], targets)
    (plain_scores, *_), (sorted_scores, *_) = outcome[False], outcome[True]
    assert plain_scores.keys() == sorted_scores.keys()
    for key, value in plain_scores.items():
        assert sorted_scores[key] == pytest.approx(value, abs=1e-5, nan_ok=True), key
