"""Hand-made per-word features for token tasks: the word, its shape, its character n-grams and
its neighbours, as sparse one-hot columns (``DictVectorizer``)."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction import DictVectorizer


def char_ngrams(word: str, low: int, high: int) -> list[str]:
    """Character n-grams of ``<word>`` (boundaries marked), lower-cased."""
    padded = f"<{word.lower()}>"
    return [padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)]


def word_feature_dict(
    words: list[str], index: int, char_range: tuple[int, int], window: int
) -> dict[str, float]:
    """Features of ``words[index]`` in its sentence."""
    word = words[index]
    features: dict[str, float] = {
        "bias": 1.0,
        f"w={word}": 1.0,
        f"lw={word.lower()}": 1.0,
        "is_title": float(word.istitle()),
        "is_upper": float(word.isupper()),
        "has_digit": float(any(c.isdigit() for c in word)),
        "starts_@#": float(word[:1] in "@#"),
    }
    for gram in char_ngrams(word, *char_range):
        features[f"c={gram}"] = 1.0
    for offset in range(-window, window + 1):
        if offset == 0:
            continue
        j = index + offset
        neighbour = words[j].lower() if 0 <= j < len(words) else ("<s>" if j < 0 else "</s>")
        features[f"{offset:+d}:lw={neighbour}"] = 1.0
    return features


class WordFeatures:
    """One sparse row per word of every sentence, in order."""

    def __init__(self, char_ngrams: tuple[int, int] = (2, 4), window: int = 1) -> None:
        self.char_range = (int(char_ngrams[0]), int(char_ngrams[1]))
        self.window = int(window)
        self.vectorizer = DictVectorizer(dtype=np.float32)

    def _dicts(self, sentences: list[list[str]]) -> list[dict[str, float]]:
        return [
            word_feature_dict(words, i, self.char_range, self.window)
            for words in sentences
            for i in range(len(words))
        ]

    def fit_transform(self, sentences: list[list[str]]):
        return self.vectorizer.fit_transform(self._dicts(sentences))

    def transform(self, sentences: list[list[str]]):
        return self.vectorizer.transform(self._dicts(sentences))
