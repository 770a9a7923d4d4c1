"""The rows of one split as plain Python/NumPy values, for code that does not train a network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class RawSplit:
    """The same rows a neural run sees for a split (subsets included), untokenised.

    ``texts``: one string per row (sequence tasks) or one word list per sentence (token tasks).
    ``labels``: float [N, L] multi-hot with -1 = unscored (multi-label), int [N] class ids
    (multi-class), or one tag string per word (token tasks).
    """

    texts: list[Any]
    labels: np.ndarray | list[list[str]]
    label_names: list[str]
