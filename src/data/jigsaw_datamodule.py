"""Jigsaw toxic comments (Kaggle 2018 format) as a multi-label data module.

Works on the subset shipped in data/jigsaw (.csv.gz) and on the full Kaggle files
(`data.data_dir=/path/to/kaggle/files`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src.data.multilabel_datamodule import LabelledTexts, MultilabelDataModule
from src.data.readers.jigsaw import (
    JIGSAW_LABELS,
    read_jigsaw_test,
    read_labelled_csv,
    resolve_data_file,
)


class JigsawDataModule(MultilabelDataModule):
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
        """``common``: MultilabelDataModule arguments (tokenizer, max_length, batch_size...)."""
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
