"""The data sets textlab reads, by name, all registered the same way.

A data set, sequence or token, is a DataModule class (a ``SequenceDataModule`` or a
``TokenDataModule``, both on ``TextDataModule``) that names its files, reads a split with its
reader and knows its label names; ``@register_dataset("name")`` puts it here. A config names a
data set by its class (``data._target_``); the built-in ones are in ``src.data.datasets``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from src.errors import TextlabError

#: registered name -> the DataModule class of that data set
DATASETS: dict[str, type] = {}

Module = TypeVar("Module", bound=type)


def register_dataset(name: str) -> Callable[[Module], Module]:
    """Class decorator: register a DataModule class under ``name`` (its ``dataset_name``)."""

    def register(cls: Module) -> Module:
        if DATASETS.get(name, cls) is not cls:
            raise ValueError(f"data set {name!r} is already registered ({DATASETS[name]})")
        setattr(cls, "dataset_name", name)  # noqa: B010  (the attribute the decorator adds)
        DATASETS[name] = cls
        return cls

    return register


def dataset_names(family: type | None = None) -> list[str]:
    """The registered names (of the subclasses of ``family`` when given), sorted: the data sets
    whose modules have been imported (``src.data.datasets`` for the built-in ones)."""
    return sorted(n for n, cls in DATASETS.items() if family is None or issubclass(cls, family))


def dataset_class(name: str, family: type, key: str) -> type:
    """The class registered as ``name`` in ``family``; one line naming config ``key`` and the
    known names otherwise."""
    known = dataset_names(family)
    if name not in known:
        raise TextlabError(f"{key} must be one of {known}, got {name!r}")
    return DATASETS[name]
