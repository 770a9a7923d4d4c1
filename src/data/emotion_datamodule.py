"""dair-ai emotion: 6 classes, official 16,000 / 2,000 / 2,000 split of English tweets.

Research-only licence: read from ``paths.external_data_dir`` (TEXTLAB_DATA_DIR), never shipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.data.multiclass_datamodule import MulticlassDataModule, labelled
from src.data.multilabel_datamodule import LabelledTexts
from src.data.official_splits import OfficialSplits
from src.data.readers.emotion import EMOTION_LABELS, emotion_file, read_emotion_file


class EmotionDataModule(OfficialSplits, MulticlassDataModule):
    """Trains on train.txt, validates on val.txt, tests on test.txt."""

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
        super().__init__(label_columns=list(label_names or EMOTION_LABELS), **common)

    def data_files(self) -> list[Path]:
        return [emotion_file(self.data_dir, name) for name in self.files.values()]

    def cache_tag(self) -> str:
        return "emotion|" + ",".join(self.label_columns)

    def _read(self, split: str) -> LabelledTexts:
        path = emotion_file(self.data_dir, self.files[split])
        texts, class_ids, ids = read_emotion_file(path, self.label_columns)
        return labelled(texts, class_ids, ids, self.num_labels)
