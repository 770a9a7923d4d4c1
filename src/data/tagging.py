"""Token tagging rows: tagged sentences -> tag names -> seeded subsets -> encoded sentences.

A token data set (``src.data.datasets``) subclasses ``TokenDataModule`` and implements
``read(split)`` returning ``TaggedSentence`` lists from the official train/val/test files (VUA
metaphor 0/1 per word, WNUT-17 BIO). The words are tokenised once per run (about a second per
split with a fast tokenizer, so there is no disk cache) and padded per batch
(``src.data.alignment``). With ``context_sentences`` > 0 the encoder also reads the sentences
before each one in its text, unscored (``src.data.context``).

``TokenDataModule(file_format=name, ...)`` builds the token data set registered as ``name``
(``data.file_format``), so a config can switch the file format with one key.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from src.data.alignment import TaggedDataset, TaggingCollator, encode_sentences
from src.data.context import attach_context
from src.data.module import SPLITS, RawSplit, TextDataModule, sample_index
from src.data.readers.tagged import TaggedSentence
from src.errors import TextlabError
from src.tasks.token.metrics import SCHEMES

log = logging.getLogger(__name__)

BINARY_TAGS = ["0", "1"]
OUTSIDE = "O"
FORMAT_KEY = "data.file_format"


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


class TokenDataModule(TextDataModule):
    """Tagged sentences from ``data_dir``, read by a registered subclass (``conll``: CoNLL
    files, ``vua``: VUA metaphor CSVs); ``file_format``, when given, must name that subclass.

    ``scheme``: ``bio`` (tags read from the train file, ``O`` first) or ``binary`` (``0``/``1``).
    The first label name is the default tag, predicted for words cut off by ``max_length``.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        tokenizer,
        scheme: str,
        train_file: str,
        val_file: str,
        test_file: str,
        file_format: str | None = None,
        context_sentences: int = 0,
        **common: Any,
    ) -> None:
        """``common``: the ``TextDataModule`` settings (max_length, batch sizes, row limits...)."""
        files = {"train": train_file, "val": val_file, "test": test_file}
        super().__init__(data_dir, files=files, tokenizer=tokenizer, **common)
        if file_format not in (None, self.dataset_name):
            raise TextlabError(
                f"{FORMAT_KEY}={file_format} but {type(self).__name__} reads "
                f"{self.dataset_name!r} files; build TokenDataModule to pick the format by name"
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
        self.file_format = self.dataset_name
        self.scheme = scheme
        self.context_sentences = context_sentences
        self._rows: dict[str, list[TaggedSentence]] = {}
        self._label_names: list[str] | None = None
        #: split -> words cut off by max_length (scored as the default tag)
        self.words_cut: dict[str, int] = {}

    # -- reading ------------------------------------------------------------------------
    def check_tokenizer(self) -> None:
        if not getattr(self.tokenizer, "is_fast", False):
            raise TextlabError(
                "token tasks need a fast tokenizer (word_ids); pick another backbone"
            )
        super().check_tokenizer()

    def rows(self, split: str) -> list[TaggedSentence]:
        """The split's sentences (row limits applied), read and validated with the others."""
        if not self._rows:
            self._read_all()
        return self._rows[split]

    def _read_all(self) -> None:
        """Read every split: the tag names come from train, a context may come from any
        split, and every split's tags must be known."""
        if not self.data_dir.is_dir():
            raise TextlabError(
                f"data folder {self.data_dir} not found; set data.data_dir (research-only sets "
                "are read from paths.external_data_dir: set TEXTLAB_DATA_DIR)"
            )
        full = {split: self.read(split) for split in SPLITS}
        paths = {split: self.data_file(self.files[split]) for split in SPLITS}
        names = tag_names(full["train"], self.scheme, paths["train"])
        if self.context_sentences:
            attach_context(full, self.context_sentences, paths["train"])
        for split in SPLITS:
            validate_tags(full[split], names, paths[split])
        for split in SPLITS:
            index = sample_index(len(full[split]), self.limits[split], self.seed)
            self._rows[split] = full[split] if index is None else [full[split][i] for i in index]
        self._label_names = names

    def _ensure_read(self) -> None:
        if self._label_names is None:
            self.validate_inputs()

    @property
    def label_names(self) -> list[str]:
        self._ensure_read()
        return list(self._label_names or [])

    def raw_split(self, split: str) -> RawSplit:
        """The split's sentences (subsets included) as word lists and tag lists."""
        self.check_split(split)
        self._ensure_read()
        rows = self.rows(split)
        return RawSplit(
            [list(r.words) for r in rows], [list(r.tags) for r in rows], self.label_names
        )

    def contexts(self, split: str) -> list[list[str]]:
        """The words read before each sentence of ``raw_split(split)`` (empty lists without
        ``context_sentences``): what inference is given as each text's context."""
        self.check_split(split)
        self._ensure_read()
        return [list(r.context) for r in self.rows(split)]

    # -- tensors ------------------------------------------------------------------------
    def collator(self) -> TaggingCollator:
        return TaggingCollator(self.tokenizer.pad_token_id)

    def build_dataset(self, split: str) -> TaggedDataset:
        names = self.label_names  # reads and validates every split first
        rows = self.rows(split)
        ids = {name: i for i, name in enumerate(names)}
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
                names[0],
            )
        return TaggedDataset(encoded)
