"""ECE against a hand computation and torchmetrics; temperature scaling recovers a known T."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import binary_calibration_error

from src.evaluation.calibration import (
    apply_temperatures,
    expected_calibration_error,
    fit_temperature,
    fit_temperatures,
    per_label_ece,
    reliability_bins,
)


def test_ece_equals_a_hand_computed_value() -> None:
    probs = np.array([0.1, 0.3, 0.35, 0.6, 0.8, 0.9, 0.95])
    targets = np.array([0, 1, 0, 1, 1, 0, -1])  # the -1 row is not scored
    # 4 bins: [0,.25): {0.1|0} gap .1; [.25,.5): {.3|1, .35|0} mean .325 vs .5 -> .175;
    # [.5,.75): {.6|1} gap .4; [.75,1]: {.8|1, .9|0} mean .85 vs .5 -> .35
    hand = (1 * 0.1 + 2 * 0.175 + 1 * 0.4 + 2 * 0.35) / 6
    assert expected_calibration_error(probs, targets, n_bins=4) == pytest.approx(hand)
    bins = reliability_bins(probs, targets, n_bins=4)
    assert bins.counts.tolist() == [1, 2, 1, 2]


def test_ece_matches_torchmetrics() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random(500) * 0.999  # torchmetrics puts p == 1.0 in an extra bin
    targets = (rng.random(500) < probs**2).astype(int)
    expected = binary_calibration_error(torch.tensor(probs), torch.tensor(targets), n_bins=10)
    assert expected_calibration_error(probs, targets, n_bins=10) == pytest.approx(
        expected.item(), abs=1e-9
    )


def test_temperature_scaling_recovers_a_known_temperature_and_lowers_ece() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, size=20000)
    targets = (rng.random(20000) < 1 / (1 + np.exp(-true_logits))).astype(int)
    overconfident = true_logits * 3.0  # the "model" is 3x too sure of itself
    assert fit_temperature(overconfident, targets) == pytest.approx(3.0, rel=0.05)
    before = expected_calibration_error(1 / (1 + np.exp(-overconfident)), targets)
    after = expected_calibration_error(apply_temperatures(overconfident, 3.0), targets)
    assert after < before / 3


def test_label_with_one_class_keeps_temperature_one_and_nan_without_rows() -> None:
    logits = np.array([[-2.0, 1.0], [-1.0, 2.0], [-3.0, -1.0]])
    targets = np.array([[0, -1], [0, -1], [0, -1]])
    assert fit_temperatures(logits, targets).tolist() == [1.0, 1.0]
    ece = per_label_ece(1 / (1 + np.exp(-logits)), targets, ["a", "b"])
    assert np.isnan(ece["b"]) and ece["macro"] == ece["a"]
