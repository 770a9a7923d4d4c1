"""Data sets that come as three files, one per official split (train / validation / test)."""

from __future__ import annotations

from abc import abstractmethod

from src.data.token_cache import LabelledTexts


class OfficialSplits:
    """Mix in before a DataModule base: each ``read_*`` reads its split's file with ``_read``."""

    has_official_val = True

    @abstractmethod
    def _read(self, split: str) -> LabelledTexts:
        """The rows of ``split`` (train, val or test), read and validated."""

    def read_train(self) -> LabelledTexts:
        return self._read("train")

    def read_val(self) -> LabelledTexts:
        return self._read("val")

    def read_test(self) -> LabelledTexts:
        return self._read("test")
