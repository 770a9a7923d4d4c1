"""TF-IDF over word 1-2 grams and char_wb 2-5 grams + logistic regression; per-word sparse
features + logistic regression for token tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from src.baselines import settings
from src.baselines.word_features import WordFeatures
from src.utils.errors import TextlabError

SOLVERS = ("auto", "liblinear", "lbfgs", "saga")


class TfidfLR:
    """Word + character TF-IDF (sublinear tf) and a one-vs-rest / multinomial LR."""

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
        self.C = settings.positive_number(C, "C")
        self.word_ngrams = settings.ngram_range(list(word_ngrams), "word_ngrams")
        self.char_ngrams = settings.ngram_range(list(char_ngrams), "char_ngrams")
        self.min_df = settings.positive_int(min_df, "min_df")
        self.max_features = settings.positive_int(max_features, "max_features", optional=True)
        self.token_char_ngrams = settings.ngram_range(list(token_char_ngrams), "token_char_ngrams")
        self.token_window = settings.positive_int(token_window, "token_window")
        self.solver = settings.choice(solver, "solver", SOLVERS)
        self.max_iter = settings.positive_int(max_iter, "max_iter")

    def featurizer(self, task: str) -> Any:
        if task == "token":
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

    def estimator(self, task: str) -> LogisticRegression:
        solver = self.solver
        if solver == "auto":  # liblinear: fast binary fits on sparse input; lbfgs: multinomial
            solver = "liblinear" if task == "multilabel" else "lbfgs"
        if solver == "liblinear" and task != "multilabel":
            raise TextlabError(
                f"baseline.solver=liblinear fits binary problems only; the {task} task needs "
                "lbfgs or saga (or solver=auto)"
            )
        return LogisticRegression(C=self.C, solver=solver, max_iter=self.max_iter, random_state=0)
