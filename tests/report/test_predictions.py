"""Reading a run's predictions.npz, and a clear error when it is damaged."""

from __future__ import annotations

import numpy as np
import pytest

from src.errors import TextlabError
from src.report.predictions import load_test_predictions, same_test_rows


def test_multilabel_and_multiclass_predictions_load(tmp_path) -> None:
    probs = np.array([[0.1, 0.9], [0.6, 0.2]], dtype=np.float32)
    np.savez(
        tmp_path / "predictions.npz",
        test_probs=probs,
        labels=np.array(["a", "b"]),
        test_targets=np.array([[0, 1], [-1, 0]], dtype=np.int8),
    )
    loaded = load_test_predictions(tmp_path)
    assert loaded.multilabel and loaded.labels == ("a", "b")
    np.testing.assert_array_equal(loaded.targets, [[0, 1], [-1, 0]])
    np.savez(
        tmp_path / "predictions.npz",
        test_probs=probs,
        labels=np.array(["a", "b"]),
        test_targets=np.array([1, 0]),
    )
    assert not load_test_predictions(tmp_path).multilabel
    assert same_test_rows({"x": loaded, "y": loaded})


def test_no_file_is_none_and_a_bad_file_a_clear_error(tmp_path) -> None:
    assert load_test_predictions(tmp_path) is None
    np.savez(tmp_path / "predictions.npz", test_probs=np.zeros((2, 2)))
    with pytest.raises(TextlabError, match="cannot read test_probs, test_targets and labels"):
        load_test_predictions(tmp_path)
    np.savez(
        tmp_path / "predictions.npz",
        test_probs=np.zeros((2, 2)),
        test_targets=np.zeros((3, 2)),
        labels=np.array(["a", "b"]),
    )
    with pytest.raises(TextlabError, match="do not match"):
        load_test_predictions(tmp_path)
