"""What a baseline is, how it is fitted, and the two that need no encoder: class priors
(``dummy``) and TF-IDF + logistic regression (``tfidf_lr``).

A baseline has two parts per task: a featuriser, fitted on train, that maps inputs to a feature
matrix (one row per text; for token tasks one row per word of every sentence, in order), and a
scikit-learn estimator. The task fits the estimator and scores the predictions
(``src.baselines.tasks``), so a baseline never asks which task it
serves beyond the task object's attributes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from omegaconf import OmegaConf
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from threadpoolctl import threadpool_limits

from src.baselines.tasks import baseline_for
from src.config import NGRAMS, POSITIVE, Rule, at_least, one_of, store_schema, validated
from src.errors import TextlabError
from src.tasks.base import TOKENS, Task

if TYPE_CHECKING:
    from src.data.module import RawSplit

EVAL_SPLITS = ("val", "test")


class Featurizer(Protocol):
    """Learns its vocabulary (if any) on train, then maps inputs to a feature matrix."""

    def fit_transform(self, inputs: list[Any]) -> Any: ...

    def transform(self, inputs: list[Any]) -> Any: ...


class Baseline(Protocol):
    """A baseline's two parts; ``name`` is the config name (dummy, tfidf_lr, frozen_lr)."""

    name: str

    def featurizer(self, task: Task) -> Featurizer: ...

    def estimator(self, task: Task) -> Any: ...


def fit_predict(
    baseline: Baseline, task: Task, splits: dict[str, RawSplit], sklearn_threads: int | None = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Predictions for val and test (probabilities, or tags per word) and the seconds spent
    (plus the feature cache hits and truncated words of frozen-encoder features).

    ``sklearn_threads`` caps scikit-learn's OpenMP threads while fitting (None: no cap). On a
    busy 2-core machine its spinning OpenMP threads made one logistic regression over 20x
    slower (a liblinear fit on 360 Jigsaw rows at load average 8).
    """
    started = time.time()
    featurizer = baseline.featurizer(task)
    X_train = featurizer.fit_transform(splits["train"].texts)
    X_eval = {split: featurizer.transform(splits[split].texts) for split in EVAL_SPLITS}
    featurised = time.time()
    missing = None
    if task.output == TOKENS and hasattr(featurizer, "missing_words"):  # cut by max_length
        missing = {"train": featurizer.missing_words(X_train)}
        missing.update({split: featurizer.missing_words(X) for split, X in X_eval.items()})
    with threadpool_limits(sklearn_threads, user_api="openmp"):
        estimator = baseline.estimator(task)
        predictions = baseline_for(task).fit_predict(estimator, X_train, X_eval, splits, missing)
    timings = {"features_s": featurised - started, "fit_predict_s": time.time() - featurised}
    info: dict[str, Any] = {key: round(value, 2) for key, value in timings.items()}
    for name in ("cache_hits", "truncated_words"):  # frozen-encoder features only
        if hasattr(featurizer, name):
            info[name] = getattr(featurizer, name)
    return predictions, info


# -- config values, checked so a typo fails in one line before any work --------------------
# -- dummy: the floor every model must beat -----------------------------------------------
class ConstantFeatures:
    """One all-zero column per row: the dummy classifier ignores its input anyway."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def fit_transform(self, inputs: list[Any]) -> np.ndarray:
        return self.transform(inputs)

    def transform(self, inputs: list[Any]) -> np.ndarray:
        rows = sum(map(len, inputs)) if self.task.output == TOKENS else len(inputs)
        return np.zeros((rows, 1), dtype=np.float32)


class DummyBaseline:
    """Class priors, whatever the input says: per-label prior probabilities (multi-label), the
    class priors with the most frequent class predicted (multi-class), the most frequent tag
    for every word (token)."""

    name = "dummy"

    def featurizer(self, task: Task) -> ConstantFeatures:
        return ConstantFeatures(task)

    def estimator(self, task: Task) -> DummyClassifier:
        # "prior": predict_proba = training class frequencies, predict = the most frequent class
        return DummyClassifier(strategy="prior")


# -- TF-IDF + logistic regression ---------------------------------------------------------
SOLVERS = ("auto", "liblinear", "lbfgs", "saga")


def char_ngrams(word: str, low: int, high: int) -> list[str]:
    """Character n-grams of ``<word>`` (boundaries marked), lower-cased."""
    padded = f"<{word.lower()}>"
    return [padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)]


def word_feature_dict(
    words: list[str], index: int, char_range: tuple[int, int], window: int
) -> dict[str, float]:
    """Features of ``words[index]`` in its sentence: the word, its shape, its character
    n-grams and its neighbours."""
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
    """One sparse one-hot row (``DictVectorizer``) per word of every sentence, in order."""

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

    def fit_transform(self, sentences: list[list[str]]) -> Any:
        return self.vectorizer.fit_transform(self._dicts(sentences))

    def transform(self, sentences: list[list[str]]) -> Any:
        return self.vectorizer.transform(self._dicts(sentences))


@dataclass
class TfidfLRSchema:
    """``baseline=tfidf_lr``: the settings of :class:`TfidfLR`."""

    C: float = 4.0
    word_ngrams: list[int] = field(default_factory=lambda: [1, 2])
    char_ngrams: list[int] = field(default_factory=lambda: [2, 5])
    min_df: int = 2
    max_features: int | None = 200_000
    token_char_ngrams: list[int] = field(default_factory=lambda: [2, 4])
    token_window: int = 1
    solver: str = "auto"
    max_iter: int = 1000
    rules: ClassVar[dict[str, Rule]] = {
        "C": POSITIVE,
        "word_ngrams": NGRAMS,
        "char_ngrams": NGRAMS,
        "min_df": at_least(1),
        "max_features": at_least(1),
        "token_char_ngrams": NGRAMS,
        "token_window": at_least(1),
        "solver": one_of(*SOLVERS),
        "max_iter": at_least(1),
    }


store_schema("baseline_tfidf_lr", TfidfLRSchema)


class TfidfLR:
    """Word 1-2 grams + char_wb 2-5 grams TF-IDF (sublinear tf) and a one-vs-rest /
    multinomial logistic regression; hand-made per-word features for token tasks."""

    name = "tfidf_lr"

    def __init__(
        self,
        C: float = 4.0,
        word_ngrams: Sequence[int] = (1, 2),
        char_ngrams: Sequence[int] = (2, 5),
        min_df: int = 2,
        max_features: int | None = 200_000,
        token_char_ngrams: Sequence[int] = (2, 4),
        token_window: int = 1,
        solver: str = "auto",
        max_iter: int = 1000,
    ) -> None:
        settings = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        checked = validated(OmegaConf.create(settings), TfidfLRSchema, "baseline")
        self.C = checked.C
        self.word_ngrams = tuple(checked.word_ngrams)
        self.char_ngrams = tuple(checked.char_ngrams)
        self.min_df = checked.min_df
        self.max_features = checked.max_features
        self.token_char_ngrams = tuple(checked.token_char_ngrams)
        self.token_window = checked.token_window
        self.solver = checked.solver
        self.max_iter = checked.max_iter

    def featurizer(self, task: Task) -> Featurizer:
        if task.output == TOKENS:
            return WordFeatures(self.token_char_ngrams, self.token_window)
        common = dict(
            sublinear_tf=True, min_df=self.min_df, max_features=self.max_features, dtype=np.float32
        )
        return FeatureUnion(
            [
                ("word", TfidfVectorizer(analyzer="word", ngram_range=self.word_ngrams, **common)),
                (
                    "char",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, **common),
                ),
            ]
        )

    def estimator(self, task: Task) -> LogisticRegression:
        solver = self.solver
        if solver == "auto":  # liblinear: fast binary fits on sparse input; lbfgs: multinomial
            solver = "liblinear" if baseline_for(task).binary_per_label else "lbfgs"
        if solver == "liblinear" and not baseline_for(task).binary_per_label:
            raise TextlabError(
                f"baseline.solver=liblinear fits binary problems only; the {task.name} task "
                "needs lbfgs or saga (or solver=auto)"
            )
        return LogisticRegression(C=self.C, solver=solver, max_iter=self.max_iter, random_state=0)
