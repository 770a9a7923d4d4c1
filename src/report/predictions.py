"""Read a run folder's ``predictions.npz``: its per-example test probabilities and targets,
which the comparison resamples so that test-set sampling is inside its intervals.

The file holds ``test_probs`` (float [N, L]), ``test_targets`` ([N, L] with -1 = unscored for
multi-label; [N] class ids for multi-class), ``val_probs``, ``val_targets`` likewise and
``labels`` (the label names), rows in the split's file order, identical across runs of one data
config. Older runs have no such file; the comparison then says its intervals are over seeds only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.errors import TextlabError

PREDICTIONS_FILE = "predictions.npz"


@dataclass(frozen=True)
class TestPredictions:
    """One run's test split: probabilities [N, L], targets ([N, L] or [N]) and label names."""

    probs: np.ndarray
    targets: np.ndarray
    labels: tuple[str, ...]

    @property
    def multilabel(self) -> bool:
        return self.targets.ndim == 2


def load_test_predictions(run_dir: str | Path) -> TestPredictions | None:
    """The test predictions of a run folder, or None when it has no ``predictions.npz``.

    Raises:
        TextlabError: the file exists but lacks an array or its shapes disagree.
    """
    path = Path(run_dir) / PREDICTIONS_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            probs, targets, labels = npz["test_probs"], npz["test_targets"], npz["labels"]
    except (OSError, ValueError, KeyError) as err:
        raise TextlabError(
            f"{path}: cannot read test_probs, test_targets and labels ({err}); "
            "delete the file to compare the run on its seed-level metrics only"
        ) from None
    labels = tuple(str(label) for label in labels)
    rows_ok = probs.ndim == 2 and len(targets) == len(probs)
    shape_ok = targets.shape == probs.shape or targets.ndim == 1
    if not (rows_ok and shape_ok and probs.shape[1] == len(labels)):
        raise TextlabError(
            f"{path}: test_probs {probs.shape}, test_targets {targets.shape} and "
            f"{len(labels)} labels do not match: expected [N, L], [N, L] or [N], and L labels"
        )
    return TestPredictions(probs.astype(np.float32), targets.astype(np.int64), labels)


def same_test_rows(runs: dict[str, TestPredictions]) -> bool:
    """Whether every run scored the same test rows (same targets and labels): the condition for
    resampling the same rows across runs."""
    first = next(iter(runs.values()), None)
    if first is None:
        return True
    return all(
        p.labels == first.labels and np.array_equal(p.targets, first.targets) for p in runs.values()
    )


def fixed_threshold_name(threshold: float, metric: str) -> str:
    """``0.3, "f1_macro"`` -> ``test/at_0.3/f1_macro``."""
    return f"test/at_{threshold:g}/{metric}"


def fixed_threshold_scores(
    predictions: TestPredictions, thresholds: Sequence[float]
) -> dict[str, float]:
    """Multi-label test macro- and micro-F1 at one threshold for every label, per threshold
    (``test/at_0.3/f1_macro``): the rule of evaluations that fix one threshold, as published
    baselines often do. A label is predicted at ``prob >= threshold``, the project's rule.
    Multi-class predictions (an argmax) have no threshold: none."""
    from src.tasks.multilabel.metrics import multilabel_scores

    if not predictions.multilabel:
        return {}
    scores = {}
    for threshold in thresholds:
        at = multilabel_scores(
            predictions.probs, predictions.targets, list(predictions.labels), float(threshold)
        )
        for metric in ("f1_macro", "f1_micro"):
            scores[fixed_threshold_name(threshold, metric)] = at[metric]
    return scores
