"""The data sets, each registered by name: Jigsaw toxic comments, GoEmotions and dair-ai
emotion (sequence), CoNLL files such as WNUT-17 and VUA metaphor (token).

Each names its files, finds them and reads a split with its reader (``src.data.readers``);
splitting, subsets, the token cache and batching come from its row kind
(``SequenceDataModule``, ``TokenDataModule``). Research-only sets (emotion, VUA) are read from
``paths.external_data_dir`` (``TEXTLAB_DATA_DIR``), never shipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from src.data.readers.conll import read_conll
from src.data.readers.emotion import EMOTION_LABELS, emotion_file, read_emotion_file
from src.data.readers.goemotions import goemotions_file, read_goemotions_split, read_label_names
from src.data.readers.jigsaw import (
    JIGSAW_LABELS,
    read_jigsaw_test,
    read_labelled_csv,
    resolve_data_file,
)
from src.data.readers.tagged import TaggedSentence
from src.data.readers.vua import read_vua_split
from src.data.registry import register_dataset
from src.data.sequence import SequenceDataModule, one_hot
from src.data.tagging import TokenDataModule
from src.data.token_cache import LabelledTexts


# -- sequence data sets ----------------------------------------------------------------------
@register_dataset("jigsaw")
class JigsawDataModule(SequenceDataModule):
    """Train/val hold-out from train.csv; test = test.csv joined with test_labels.csv.

    Example::

        dm = JigsawDataModule("data/jigsaw", tokenizer=tok, max_train_rows=400)
        dm.prepare_data()  # validates every file, fills the token cache
        dm.setup("fit")
        batch = next(iter(dm.train_dataloader()))  # input_ids, attention_mask, labels
    """

    def __init__(
        self,
        data_dir: str,
        *,
        train_file: str = "train.csv",
        test_file: str = "test.csv",
        test_labels_file: str = "test_labels.csv",
        text_column: str = "comment_text",
        id_column: str = "id",
        label_columns: Sequence[str] = JIGSAW_LABELS,
        **common: Any,
    ) -> None:
        """``common``: SequenceDataModule arguments (tokenizer, max_length, batch_size...)."""
        files = {"train": train_file, "test": test_file, "test_labels": test_labels_file}
        super().__init__(data_dir, files=files, label_columns=label_columns, **common)
        self.text_column = text_column
        self.id_column = id_column

    def data_file(self, name: str) -> Path:
        return resolve_data_file(self.data_dir, name)

    def cache_tag(self) -> str:
        return (
            f"jigsaw|text={self.text_column}|id={self.id_column}"
            f"|labels={','.join(self.label_columns)}"
        )

    def read(self, split: str) -> LabelledTexts:
        path = self.data_file(self.files[split])
        columns = (self.text_column, self.label_columns, self.id_column)
        if split == "train":
            frame = read_labelled_csv(path, *columns)
        else:
            frame = read_jigsaw_test(path, self.data_file(self.files["test_labels"]), *columns)
        return self._rows_of(frame)

    def _rows_of(self, frame: pd.DataFrame) -> LabelledTexts:
        return LabelledTexts(
            frame[self.text_column].tolist(),
            frame[self.label_columns].to_numpy(dtype="float32"),
            frame[self.id_column].tolist(),
        )


@register_dataset("goemotions")
class GoEmotionsDataModule(SequenceDataModule):
    """Trains on train.tsv, validates on the official dev.tsv, tests on test.tsv."""

    def __init__(
        self,
        data_dir: str,
        *,
        train_file: str = "train.tsv",
        val_file: str = "dev.tsv",
        test_file: str = "test.tsv",
        labels_file: str = "emotions.txt",
        **common: Any,
    ) -> None:
        files = {"train": train_file, "val": val_file, "test": test_file, "labels": labels_file}
        names = read_label_names(goemotions_file(data_dir, labels_file))
        super().__init__(data_dir, files=files, label_columns=names, **common)

    def data_file(self, name: str) -> Path:
        return goemotions_file(self.data_dir, name)

    def cache_tag(self) -> str:
        return "goemotions|" + ",".join(self.label_columns)

    def read(self, split: str) -> LabelledTexts:
        path = self.data_file(self.files[split])
        return LabelledTexts(*read_goemotions_split(path, self.num_labels))


@register_dataset("emotion")
class EmotionDataModule(SequenceDataModule):
    """dair-ai emotion (6 classes, one per tweet): trains on train.txt, validates on val.txt,
    tests on test.txt. Research-only licence: read from ``paths.external_data_dir``."""

    single_label = True

    def __init__(
        self,
        data_dir: str,
        *,
        train_file: str = "train.txt",
        val_file: str = "val.txt",
        test_file: str = "test.txt",
        label_names: list[str] | None = None,
        **common: Any,
    ) -> None:
        files = {"train": train_file, "val": val_file, "test": test_file}
        super().__init__(
            data_dir,
            files=files,
            label_columns=list(label_names or EMOTION_LABELS),
            drop_unscored_test_rows=False,
            **common,
        )

    def data_file(self, name: str) -> Path:
        return emotion_file(self.data_dir, name)

    def cache_tag(self) -> str:
        return "emotion|" + ",".join(self.label_columns)

    def read(self, split: str) -> LabelledTexts:
        texts, class_ids, ids = read_emotion_file(
            self.data_file(self.files[split]), self.label_columns
        )
        return LabelledTexts(texts, one_hot(class_ids, self.num_labels), ids)


# -- token data sets -------------------------------------------------------------------------
@register_dataset("conll")
class ConllDataModule(TokenDataModule):
    """CoNLL files (WNUT-17, CoNLL-2003): ``word<TAB>tag`` lines, sentences apart."""

    def read(self, split: str) -> list[TaggedSentence]:
        return read_conll(self.data_file(self.files[split]))


@register_dataset("vua")
class VuaDataModule(TokenDataModule):
    """VUA metaphor sequence CSVs: a sentence and a 0/1 label per word on each row."""

    def read(self, split: str) -> list[TaggedSentence]:
        return read_vua_split(self.data_file(self.files[split]))
