"""What a baseline does per task: how scikit-learn estimators are fitted on a task's labels,
and how their predictions are scored with the neural runs' metric code. Looked up once by the
task's name (``baseline_for``); no other baseline code asks which task it serves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from src.errors import TextlabError
from src.evaluation.thresholds import MIN_POSITIVES, tune_thresholds
from src.tasks.base import Task
from src.tasks.multiclass.metrics import class_ids, multiclass_scores
from src.tasks.multiclass.task import MulticlassTask
from src.tasks.multilabel.metrics import multilabel_scores
from src.tasks.multilabel.task import MultilabelTask
from src.tasks.output import DEFAULT_THRESHOLD
from src.tasks.token.metrics import token_scores
from src.tasks.token.task import TokenTask

if TYPE_CHECKING:
    from src.data.module import RawSplit

UNSCORED = -1


class TaskBaseline:
    """scikit-learn estimators on one task's splits."""

    #: each label is fitted as its own binary problem (binary-only solvers serve)
    binary_per_label: ClassVar[bool] = False

    def __init__(self, task: Task) -> None:
        self.task = task

    def fit_predict(
        self,
        estimator: Any,
        X_train: Any,
        X_eval: dict[str, Any],
        splits: dict[str, RawSplit],
        missing: dict[str, np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Fit clones of a scikit-learn ``estimator`` on the train features (labels from
        ``splits["train"]``) and predict each split of ``X_eval``: ``split -> predictions``.

        ``missing``: per split (train too), feature rows to leave out of the fit and predict
        as the neural model would (token tasks: words cut off by ``max_length``)."""
        raise NotImplementedError

    def scores(self, predictions: Any, split: RawSplit) -> dict[str, float]:
        """One split's scores of baseline predictions, with the neural runs' metric code."""
        raise NotImplementedError

    def score(
        self,
        predictions: dict[str, Any],
        splits: dict[str, RawSplit],
        threshold_metric: str = "f1",
        default_threshold: float = DEFAULT_THRESHOLD,
        min_positives: int = MIN_POSITIVES,
    ) -> tuple[dict[str, float], dict[str, Any] | None]:
        """``<split>/<metric>`` scores of each predicted split, and the decision thresholds
        tuned on validation as a ``thresholds.json`` payload (None: the task has none)."""
        metrics: dict[str, float] = {}
        for name, split_predictions in predictions.items():
            scores = self.scores(split_predictions, splits[name])
            metrics.update({f"{name}/{key}": value for key, value in scores.items()})
        return metrics, None


class MultilabelBaseline(TaskBaseline):
    binary_per_label = True

    def fit_predict(self, estimator, X_train, X_eval, splits, missing=None):
        """``split -> [N, L]`` probabilities: one binary fit per label on its scored train rows
        (-1 dropped); a label with a single class in train gets that constant probability."""
        from sklearn.base import clone

        Y_train = np.asarray(splits["train"].labels)
        n_labels = Y_train.shape[1]
        probs = {s: np.zeros((X.shape[0], n_labels), dtype=np.float32) for s, X in X_eval.items()}
        for j in range(n_labels):
            scored = Y_train[:, j] != UNSCORED
            y = Y_train[scored, j].astype(int)
            if len(np.unique(y)) < 2:  # nothing to separate: the prior (0 or 1) for every row
                prior = float(y.mean()) if len(y) else 0.0
                for split in probs:
                    probs[split][:, j] = prior
                continue
            model = clone(estimator).fit(X_train[np.flatnonzero(scored)], y)
            positive = list(model.classes_).index(1)
            for split, X in X_eval.items():
                probs[split][:, j] = model.predict_proba(X)[:, positive].astype(np.float32)
        return probs

    def scores(self, predictions: np.ndarray, split: RawSplit) -> dict[str, float]:
        """AUC and F1 at 0.5, as the neural runs' validation and test scores."""
        labels = np.asarray(split.labels)  # the [N, L] label matrix
        return multilabel_scores(predictions, labels, split.label_names, DEFAULT_THRESHOLD)

    def score(
        self,
        predictions,
        splits,
        threshold_metric="f1",
        default_threshold=DEFAULT_THRESHOLD,
        min_positives=MIN_POSITIVES,
    ):
        """Adds F1 at per-label thresholds tuned on validation (``val/tuned/f1_macro``...), as
        the neural runs' threshold analysis does."""
        metrics, _ = super().score(predictions, splits)
        names = splits["train"].label_names
        tuning = tune_thresholds(
            predictions["val"],
            splits["val"].labels,
            names,
            threshold_metric,
            default_threshold,
            min_positives,
        )
        for split, probs in predictions.items():
            tuned = multilabel_scores(probs, splits[split].labels, names, tuning.as_list(names))
            f1 = {key: value for key, value in tuned.items() if key.startswith("f1")}
            metrics.update({f"{split}/tuned/{key}": value for key, value in f1.items()})
        return metrics, tuning.to_json()


class MulticlassBaseline(TaskBaseline):
    def fit_predict(self, estimator, X_train, X_eval, splits, missing=None):
        """``split -> [N, C]`` probabilities from one fit, columns in class-id order (a class
        absent from train gets 0)."""
        from sklearn.base import clone

        train = splits["train"]
        model = clone(estimator).fit(X_train, class_ids(train.labels))
        columns = np.asarray(model.classes_, dtype=int)
        out = {}
        for split, X in X_eval.items():
            probs = np.zeros((X.shape[0], len(train.label_names)), dtype=np.float32)
            probs[:, columns] = model.predict_proba(X)
            out[split] = probs
        return out

    def scores(self, predictions: np.ndarray, split: RawSplit) -> dict[str, float]:
        """Accuracy and F1 of the arg-max class."""
        return multiclass_scores(
            np.asarray(predictions), class_ids(np.asarray(split.labels)), split.label_names
        )


class TokenBaseline(TaskBaseline):
    """One feature row per word, sentences in order."""

    def fit_predict(self, estimator, X_train, X_eval, splits, missing=None):
        """``split -> tags per word of each sentence`` from one fit over every train word.

        ``missing``: per split (train too), words without features (cut off by the encoder's
        max_length): left out of the fit and given the most frequent training tag, as the
        neural tagger predicts the outside tag for them."""
        from sklearn.base import clone

        missing = missing or {}
        y = np.asarray([tag for tags in splits["train"].labels for tag in tags], dtype=object)
        keep = ~missing.get("train", np.zeros(len(y), dtype=bool))
        model = clone(estimator).fit(X_train[np.flatnonzero(keep)], y[keep])
        values, counts = np.unique(y, return_counts=True)
        most_frequent = str(values[np.argmax(counts)])
        out = {}
        for split, X in X_eval.items():
            tags = np.asarray([str(t) for t in model.predict(X)], dtype=object)
            if split in missing:
                tags[missing[split]] = most_frequent
            out[split] = _per_sentence([str(t) for t in tags], splits[split].texts)
        return out

    def scores(self, predictions: list[list[str]], split: RawSplit) -> dict[str, float]:
        """Word (binary) or entity (BIO) scores of the predicted tags."""
        assert isinstance(split.labels, list) and isinstance(
            self.task, TokenTask
        )  # by baseline_for
        return token_scores(split.labels, predictions, self.task.scheme)


def _per_sentence(flat: list[str], sentences: list[list[Any]]) -> list[list[str]]:
    """Cut a flat list (one entry per word) back into sentences."""
    out, start = [], 0
    for sentence in sentences:
        out.append(flat[start : start + len(sentence)])
        start += len(sentence)
    return out


#: task class -> its baseline adapter
BASELINES: dict[type[Task], type[TaskBaseline]] = {
    MultilabelTask: MultilabelBaseline,
    MulticlassTask: MulticlassBaseline,
    TokenTask: TokenBaseline,
}


def baseline_for(task: Task) -> TaskBaseline:
    """The baseline adapter of ``task``; a clear error for a task the baselines do not serve."""
    adapter = next((a for kind, a in BASELINES.items() if isinstance(task, kind)), None)
    if adapter is None:
        raise TextlabError(f"the baselines do not serve the {task.name} task")
    return adapter(task)
