"""Token tagging data: word tags aligned to sub-tokens, batches, and the DataModule.

The first sub-token of each word carries the word's label; later sub-tokens and special tokens
get ``IGNORE`` (-100, cross-entropy's ignore_index), so every word is scored exactly once (the
Hugging Face ``run_ner`` rule). Words whose first sub-token falls beyond ``max_length`` are cut
off: they get no position, and scoring predicts the default tag for them, so F1 is not inflated.
The DataModule reads the official train/val/test files (VUA metaphor 0/1 per word, WNUT-17 BIO),
takes seeded subsets, tokenises the words once (about a second per split with a fast tokenizer,
so there is no disk cache) and pads per batch. With ``context_sentences`` > 0 the encoder also
reads the sentences before each one in its text, unscored (``src.data.context``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as L
import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from src.config import DataSchema, validated
from src.data.batching import eval_sampler
from src.data.context import attach_context, context_first
from src.data.readers.conll import read_conll
from src.data.readers.tagged import TaggedSentence
from src.data.readers.vua import read_vua_split
from src.data.sequence import RawSplit
from src.errors import TextlabError
from src.tasks.token.metrics import SCHEMES

log = logging.getLogger(__name__)


# -- word labels to sub-token labels ---------------------------------------------------------
IGNORE = -100


@dataclass
class EncodedSentence:
    """One sentence ready for the model.

    ``labels``: per sub-token, the word's label id at first sub-tokens, else -100.
    ``word_index``: per sub-token, the word number at first sub-tokens, else -1.
    ``word_labels``: the label id of every word, truncated ones included.
    """

    input_ids: list[int]
    labels: list[int]
    word_index: list[int]
    word_labels: list[int]

    @property
    def words_cut(self) -> int:
        """Words without a position (beyond max_length, or no sub-token at all)."""
        return len(self.word_labels) - sum(1 for i in self.word_index if i >= 0)


def first_subtoken_labels(
    word_ids: Sequence[int | None], word_labels: Sequence[int]
) -> tuple[list[int], list[int]]:
    """(labels, word_index) per sub-token from the tokenizer's ``word_ids()``.

    Example:
        >>> first_subtoken_labels([None, 0, 0, 1, None], [3, 5])
        ([-100, 3, -100, 5, -100], [-1, 0, -1, 1, -1])
    """
    labels, word_index = [], []
    previous = None
    for word in word_ids:
        if word is None or word == previous:
            labels.append(IGNORE)
            word_index.append(-1)
        else:
            labels.append(int(word_labels[word]))
            word_index.append(int(word))
        previous = word
    return labels, word_index


def with_context(
    tokenizer, encoded: EncodedSentence, context_ids: Sequence[int], max_length: int
) -> EncodedSentence:
    """``encoded`` with its context before it (``context_first``), never scored."""
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids = encoded.input_ids
    if cls is None or sep is None or not ids or ids[0] != cls or ids[-1] != sep:
        raise TextlabError(
            "data.context_sentences needs a tokenizer that starts a sequence with [CLS] and "
            "has a [SEP] token (BERT-style); set data.context_sentences=0 for this backbone"
        )
    ids, (labels, word_index) = context_first(
        ids, context_ids, max_length, (encoded.labels, IGNORE), (encoded.word_index, -1)
    )
    return EncodedSentence(ids, labels, word_index, encoded.word_labels)


def encode_sentences(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    label_ids: Sequence[Sequence[int]],
    max_length: int,
    batch_size: int = 512,
    contexts: Sequence[Sequence[str]] | None = None,
) -> list[EncodedSentence]:
    """Tokenise pre-split words (``is_split_into_words``), truncate, align the labels; with
    ``contexts`` (words per sentence), put each sentence's context before it (``with_context``)."""
    encoded: list[EncodedSentence] = []
    for start in range(0, len(sentences), batch_size):
        words = [list(s) for s in sentences[start : start + batch_size]]
        batch = tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        context_ids = None
        if contexts is not None:
            context_words = [list(c) or [""] for c in contexts[start : start + batch_size]]
            context_ids = tokenizer(
                context_words,
                is_split_into_words=True,
                add_special_tokens=False,
                return_attention_mask=False,
                return_token_type_ids=False,
            )["input_ids"]
        for row, ids in enumerate(batch["input_ids"]):
            word_labels = [int(x) for x in label_ids[start + row]]
            labels, index = first_subtoken_labels(batch.word_ids(row), word_labels)
            sentence = EncodedSentence(list(ids), labels, index, word_labels)
            if context_ids is not None:
                sentence = with_context(tokenizer, sentence, context_ids[row], max_length)
            encoded.append(sentence)
    return encoded


# -- tag sets --------------------------------------------------------------------------------
BINARY_TAGS = ["0", "1"]
OUTSIDE = "O"


def tag_names(train: list[TaggedSentence], scheme: str, path: Path) -> list[str]:
    """The label names: ``0``/``1`` (binary) or the train file's BIO tags sorted, ``O`` first.

    The first name is the default tag (what a word cut off by max_length is predicted as).
    """
    if scheme == "binary":
        return list(BINARY_TAGS)
    tags = {t for sentence in train for t in sentence.tags}
    bad = sorted(t for t in tags if t != OUTSIDE and not t.startswith(("B-", "I-")))
    if bad:
        raise TextlabError(
            f"{path}: tags {bad[:5]} are not BIO (O, B-<type>, I-<type>); "
            "use data.scheme=binary for 0/1 tags"
        )
    return [OUTSIDE, *sorted(tags - {OUTSIDE})]


def validate_tags(sentences: list[TaggedSentence], names: list[str], path: Path) -> None:
    """Every tag of a split must be one the model can predict (the train file's tag set)."""
    known = set(names)
    for number, sentence in enumerate(sentences, start=1):
        unknown = sorted(set(sentence.tags) - known)
        if unknown:
            raise TextlabError(
                f"{path}: sentence {number} has tags {unknown} that the train file does not "
                f"have (known: {names}); fix the tags or add examples of them to train"
            )


# -- datasets and padding --------------------------------------------------------------------
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


# -- the DataModule --------------------------------------------------------------------------
READERS = {"conll": read_conll, "vua": read_vua_split}
SPLITS = ("train", "val", "test")


def subsample(rows: list[TaggedSentence], max_rows: int | None, seed: int) -> list:
    """A seeded random subset, kept in file order."""
    if max_rows is None or max_rows >= len(rows):
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=max_rows, replace=False))
    return [rows[i] for i in keep]


class TokenDataModule(L.LightningDataModule):
    """Tagged sentences from ``data_dir`` in ``file_format`` (``conll`` or ``vua``).

    ``scheme``: ``bio`` (tags read from the train file, ``O`` first) or ``binary`` (``0``/``1``).
    The first label name is the default tag, predicted for words cut off by ``max_length``.
    """

    #: the splits ``predict_dataloader`` yields, in order
    predict_splits = ("val", "test")

    def __init__(
        self,
        data_dir: str,
        *,
        tokenizer,
        file_format: str,
        scheme: str,
        train_file: str,
        val_file: str,
        test_file: str,
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        seed: int = 42,
        num_workers: int = 0,
        max_train_rows: int | None = None,
        max_val_rows: int | None = None,
        max_test_rows: int | None = None,
        context_sentences: int = 0,
    ) -> None:
        super().__init__()
        if file_format not in READERS:
            raise TextlabError(
                f"data.file_format must be one of {sorted(READERS)}, got {file_format!r}"
            )
        if scheme not in SCHEMES:
            raise TextlabError(f"data.scheme must be one of {list(SCHEMES)}, got {scheme!r}")
        if (
            isinstance(context_sentences, bool)
            or not isinstance(context_sentences, int)
            or context_sentences < 0
        ):
            raise TextlabError(
                f"data.context_sentences must be a whole number >= 0, got {context_sentences!r}"
            )
        self.data_dir = Path(data_dir)
        self.tokenizer = tokenizer
        self.file_format = file_format
        self.scheme = scheme
        self.files = {"train": train_file, "val": val_file, "test": test_file}
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.limits = {"train": max_train_rows, "val": max_val_rows, "test": max_test_rows}
        self.context_sentences = context_sentences
        self._rows: dict[str, list[TaggedSentence]] = {}
        self._label_names: list[str] | None = None
        self.datasets: dict[str, TaggedDataset] = {}
        #: split -> words cut off by max_length (scored as the default tag)
        self.words_cut: dict[str, int] = {}

    # -- reading ------------------------------------------------------------------------
    def data_files(self) -> list[Path]:
        return [self.data_dir / self.files[split] for split in SPLITS]

    def _read(self, split: str) -> list[TaggedSentence]:
        path = self.data_dir / self.files[split]
        if not self.data_dir.is_dir():
            raise TextlabError(
                f"data folder {self.data_dir} not found; set data.data_dir (research-only sets "
                "are read from paths.external_data_dir: set TEXTLAB_DATA_DIR)"
            )
        return READERS[self.file_format](path)

    def prepare_data(self) -> None:
        """Check the settings, read and validate every split (cheap; before the model)."""
        settings = {
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "num_workers": self.num_workers,
            **{f"max_{split}_rows": self.limits[split] for split in SPLITS},
        }
        validated(OmegaConf.create(settings), DataSchema, "data")
        if not getattr(self.tokenizer, "is_fast", False):
            raise TextlabError(
                "token tasks need a fast tokenizer (word_ids); pick another backbone"
            )
        TaggingCollator(self.tokenizer.pad_token_id)
        full = {split: self._read(split) for split in SPLITS}
        self._label_names = tag_names(full["train"], self.scheme, self.data_files()[0])
        if self.context_sentences:
            attach_context(full, self.context_sentences, self.data_files()[0])
        for split in SPLITS:
            validate_tags(full[split], self._label_names, self.data_files()[SPLITS.index(split)])
            self._rows[split] = subsample(full[split], self.limits[split], self.seed)

    def _ensure_read(self) -> None:
        if self._label_names is None:
            self.prepare_data()

    @property
    def label_names(self) -> list[str]:
        self._ensure_read()
        return list(self._label_names)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def raw_split(self, split: str) -> RawSplit:
        """The split's sentences (subsets included) as word lists and tag lists."""
        if split not in SPLITS:
            raise TextlabError(f"split must be one of {list(SPLITS)}, got {split!r}")
        self._ensure_read()
        rows = self._rows[split]
        return RawSplit(
            [list(r.words) for r in rows], [list(r.tags) for r in rows], self.label_names
        )

    def contexts(self, split: str) -> list[list[str]]:
        """The words read before each sentence of ``raw_split(split)`` (empty lists without
        ``context_sentences``): what inference is given as each text's context."""
        self.raw_split(split)  # checks the split, reads the files
        return [list(r.context) for r in self._rows[split]]

    # -- tensors ------------------------------------------------------------------------
    def _dataset(self, split: str) -> TaggedDataset:
        if split not in self.datasets:
            self._ensure_read()
            rows = self._rows[split]
            ids = {name: i for i, name in enumerate(self._label_names)}
            encoded = encode_sentences(
                self.tokenizer,
                [r.words for r in rows],
                [[ids[t] for t in r.tags] for r in rows],
                self.max_length,
                contexts=[r.context for r in rows] if self.context_sentences else None,
            )
            cut = sum(s.words_cut for s in encoded)
            self.words_cut[split] = cut
            if cut:
                total = sum(len(r.words) for r in rows)
                log.warning(
                    "%s: %d of %d words (%.2f %%) lie beyond data.max_length=%d; they are "
                    "scored as %r (raise max_length to predict them)",
                    split,
                    cut,
                    total,
                    100 * cut / total,
                    self.max_length,
                    self._label_names[0],
                )
            self.datasets[split] = TaggedDataset(encoded)
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate"):
            self._dataset("train")
            self._dataset("val")
        if stage in (None, "test", "predict"):
            self._dataset("test")

    @property
    def train_dataset(self) -> TaggedDataset | None:
        return self.datasets.get("train")

    @property
    def val_dataset(self) -> TaggedDataset | None:
        return self.datasets.get("val")

    @property
    def test_dataset(self) -> TaggedDataset | None:
        return self.datasets.get("test")

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self._dataset(split)
        # evaluation under DDP: disjoint shards, no padded repeats (the collector gathers them)
        sampler = None if shuffle else eval_sampler(dataset, self.trainer)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=TaggingCollator(self.tokenizer.pad_token_id),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, False)

    def predict_dataloader(self) -> list[DataLoader]:
        """Validation then test (``predict_splits``), as for the sequence data sets."""
        return [self.val_dataloader(), self.test_dataloader()]
