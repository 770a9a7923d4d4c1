"""The data sets: Jigsaw toxic comments, GoEmotions and dair-ai emotion.

Each reads its own files (``src.data.readers``) into rows; splitting, subsets, the token cache
and batching come from ``SequenceDataModule``. Research-only sets (emotion) are read from
``paths.external_data_dir`` (``TEXTLAB_DATA_DIR``), never shipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.data.readers.emotion import EMOTION_LABELS, emotion_file, read_emotion_file
from src.data.readers.goemotions import goemotions_file, read_goemotions_split, read_label_names
from src.data.readers.jigsaw import (
    JIGSAW_LABELS,
    read_jigsaw_test,
    read_labelled_csv,
    resolve_data_file,
)
from src.data.sequence import LabelledTexts, OfficialSplits, SequenceDataModule, one_hot


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
        super().__init__(label_columns=label_columns, **common)
        self.data_dir = str(data_dir)
        self.train_file = train_file
        self.test_file = test_file
        self.test_labels_file = test_labels_file
        self.text_column = text_column
        self.id_column = id_column

    def data_files(self) -> list[Path]:
        return [
            resolve_data_file(self.data_dir, name)
            for name in (self.train_file, self.test_file, self.test_labels_file)
        ]

    def cache_tag(self) -> str:
        return (
            f"jigsaw|text={self.text_column}|id={self.id_column}"
            f"|labels={','.join(self.label_columns)}"
        )

    def read_train(self) -> LabelledTexts:
        path = resolve_data_file(self.data_dir, self.train_file)
        frame = read_labelled_csv(path, self.text_column, self.label_columns, self.id_column)
        return self._rows_of(frame)

    def read_test(self) -> LabelledTexts:
        frame = read_jigsaw_test(
            resolve_data_file(self.data_dir, self.test_file),
            resolve_data_file(self.data_dir, self.test_labels_file),
            self.text_column,
            self.label_columns,
            self.id_column,
        )
        return self._rows_of(frame)

    def _rows_of(self, frame) -> LabelledTexts:
        return LabelledTexts(
            frame[self.text_column].tolist(),
            frame[self.label_columns].to_numpy(dtype="float32"),
            frame[self.id_column].tolist(),
        )


class GoEmotionsDataModule(OfficialSplits, SequenceDataModule):
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
        self.data_dir = str(data_dir)
        self.files = {"train": train_file, "val": val_file, "test": test_file}
        self.labels_file = labels_file
        names = read_label_names(goemotions_file(data_dir, labels_file))
        super().__init__(label_columns=names, **common)

    def data_files(self) -> list[Path]:
        names = [*self.files.values(), self.labels_file]
        return [goemotions_file(self.data_dir, name) for name in names]

    def cache_tag(self) -> str:
        return "goemotions|" + ",".join(self.label_columns)

    def _read(self, split: str) -> LabelledTexts:
        path = goemotions_file(self.data_dir, self.files[split])
        return LabelledTexts(*read_goemotions_split(path, self.num_labels))


class EmotionDataModule(OfficialSplits, SequenceDataModule):
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
        self.data_dir = str(data_dir)
        self.files = {"train": train_file, "val": val_file, "test": test_file}
        super().__init__(
            label_columns=list(label_names or EMOTION_LABELS),
            drop_unscored_test_rows=False,
            **common,
        )

    def data_files(self) -> list[Path]:
        return [emotion_file(self.data_dir, name) for name in self.files.values()]

    def cache_tag(self) -> str:
        return "emotion|" + ",".join(self.label_columns)

    def _read(self, split: str) -> LabelledTexts:
        path = emotion_file(self.data_dir, self.files[split])
        texts, class_ids, ids = read_emotion_file(path, self.label_columns)
        return LabelledTexts(texts, one_hot(class_ids, self.num_labels), ids)
