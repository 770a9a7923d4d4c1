"""GoEmotions (Demszky et al. 2020): 28 emotions, multi-label, official train/dev/test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.data.multilabel_datamodule import LabelledTexts, MultilabelDataModule
from src.data.official_splits import OfficialSplits
from src.data.readers.goemotions import goemotions_file, read_goemotions_split, read_label_names


class GoEmotionsDataModule(OfficialSplits, MultilabelDataModule):
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
