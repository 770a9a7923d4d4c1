"""Checks on baseline config values, so a typo fails in one line before any work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from src.utils.errors import TextlabError


def positive_number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise TextlabError(f"baseline.{key} must be a number > 0, got {value!r}")
    return float(value)


def positive_int(value: Any, key: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TextlabError(f"baseline.{key} must be an integer >= 1, got {value!r}")
    return int(value)


def ngram_range(value: Any, key: str) -> tuple[int, int]:
    """``[low, high]`` with 1 <= low <= high."""
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 1 <= value[0] <= value[1]
    ):
        raise TextlabError(
            f"baseline.{key} must be [low, high] with 1 <= low <= high, got {value!r}"
        )
    return int(value[0]), int(value[1])


def choice(value: Any, key: str, options: Sequence[str]) -> str:
    if value not in options:
        raise TextlabError(f"baseline.{key} must be one of {list(options)}, got {value!r}")
    return str(value)
