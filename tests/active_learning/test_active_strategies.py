"""Each query strategy picks the expected rows on hand-built probability matrices."""

from __future__ import annotations

import numpy as np
import pytest

from src.active_learning.strategies import (
    BALD,
    CVIRS,
    CardinalityInconsistency,
    MeanEntropy,
    PoolView,
    RandomSampling,
    binary_entropy,
    category_vector_distance,
    rank_aggregated_uncertainty,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_binary_entropy_matches_the_definition() -> None:
    assert binary_entropy(np.array([0.5, 0.0, 1.0])).tolist() == pytest.approx([1.0, 0.0, 0.0])
    p = 0.2
    assert binary_entropy(np.array(p)) == pytest.approx(-(p * np.log2(p) + 0.8 * np.log2(0.8)))


def test_random_picks_distinct_rows_reproducibly() -> None:
    pool = PoolView(size=50)
    first = RandomSampling().select(pool, 10, rng(3))
    assert len(set(first.tolist())) == 10 and first.max() < 50
    assert first.tolist() == RandomSampling().select(pool, 10, rng(3)).tolist()
    assert first.tolist() != RandomSampling().select(pool, 10, rng(4)).tolist()
    with pytest.raises(ValueError):
        RandomSampling().select(pool, 51, rng())


def test_entropy_picks_the_rows_closest_to_one_half() -> None:
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.99, 0.01], [0.6, 0.5]])
    pool = PoolView(size=4, probs=probs)
    assert MeanEntropy().select(pool, 2, rng()).tolist() == [1, 3]
    assert MeanEntropy().scores(pool)[1] == pytest.approx(1.0)


def test_bald_prefers_disagreeing_passes_over_agreeing_uncertainty() -> None:
    # T=2 passes, N=3 rows, L=1 label. Row 0: both passes say 0.5 (uncertain, no disagreement)
    # -> I = H(0.5) - H(0.5) = 0. Row 1: passes 0 and 1 -> I = H(0.5) - 0 = 1 bit.
    # Row 2: passes 0.2 and 0.8 -> I = H(0.5) - H(0.2) = 1 - 0.7219 = 0.2781.
    mc = np.array([[[0.5], [0.0], [0.2]], [[0.5], [1.0], [0.8]]])
    pool = PoolView(size=3, mc_probs=mc)
    scores = BALD(mc_passes=2).scores(pool)
    assert scores.tolist() == pytest.approx([0.0, 1.0, 1 - binary_entropy(np.array(0.2))])
    assert BALD(mc_passes=2).select(pool, 3, rng()).tolist() == [1, 2, 0]
    # entropy of the mean cannot tell these rows apart (all means are 0.5)
    assert np.unique(MeanEntropy().scores(PoolView(3, probs=mc.mean(0)))).size == 1


def test_bald_sums_mutual_information_over_labels() -> None:
    mc = np.array([[[0.0, 0.0], [0.0, 0.5]], [[1.0, 1.0], [1.0, 0.5]]])  # [T=2, N=2, L=2]
    assert BALD(mc_passes=2).scores(PoolView(2, mc_probs=mc)).tolist() == pytest.approx([2, 1])


def test_bald_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="mc_passes"):
        BALD(mc_passes=1)
    with pytest.raises(ValueError, match="dropout_scope"):
        BALD(dropout_scope="encoder")


# CVIRS on a case computed by hand. q = 2 labels, 3 candidates:
#   probs x0 = [0.6, 0.4], x1 = [0.9, 0.55], x2 = [0.3, 0.7]
#   margins |2p - 1|: x0 [0.2, 0.2], x1 [0.8, 0.1], x2 [0.4, 0.4]
#   positions (1 = smallest margin): label 0: x0 1, x2 2, x1 3; label 1: x1 1, x0 2, x2 3
#   s = Σ (N - τ) / (q (N - 1)): x0 (2 + 1)/4 = 0.75, x1 (0 + 2)/4 = 0.5, x2 (1 + 0)/4 = 0.25
#   predicted vectors at 0.5: x0 [1, 0], x1 [1, 1], x2 [0, 1]; labelled y_a [1, 0], y_b [0, 0]
#   d(x0, y_a) = 0 (equal); d(x0, y_b): a=0 b=1 c=0 d=1, H(ŷ)=1, H(y)=0, H(ŷ,y)=1 -> 1
#   d(x1, y_a): a=1 b=1 c=0 d=0, H(ŷ)=0, H(y)=1, H(ŷ,y)=1 -> 1; d(x1, y_b): Hamming 1 -> 1
#   d(x2, y_a): Hamming 1 -> 1; d(x2, y_b): as d(x0, y_b) -> 1
#   v: x0 0.5, x1 1, x2 1  ->  CVIRS = s * v: x0 0.375, x1 0.5, x2 0.25
CVIRS_PROBS = np.array([[0.6, 0.4], [0.9, 0.55], [0.3, 0.7]])
CVIRS_LABELLED = np.array([[1, 0], [0, 0]])


def test_cvirs_rank_aggregation_by_hand() -> None:
    assert rank_aggregated_uncertainty(CVIRS_PROBS).tolist() == pytest.approx([0.75, 0.5, 0.25])


def test_cvirs_scores_and_pick_by_hand() -> None:
    pool = PoolView(size=3, probs=CVIRS_PROBS, labelled_targets=CVIRS_LABELLED)
    assert CVIRS().scores(pool).tolist() == pytest.approx([0.375, 0.5, 0.25])
    # the rank-aggregated uncertainty alone would pick x0; the inconsistency term moves x1 ahead
    assert CVIRS().select(pool, 2, rng()).tolist() == [1, 0]


def test_category_vector_distance_fractional_case_by_hand() -> None:
    # ŷ = [1,1,0,0], y = [1,1,1,0]: a=2 b=0 c=1 d=1 (q=4); H(ŷ) = 1, H(y) = H(3/4, 1/4),
    # H(ŷ, y) = H(1/2, 0, 1/4, 1/4) = 1.5  ->  (2 * 1.5 - 1 - H(3/4, 1/4)) / 1.5
    h_y = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    got = category_vector_distance(np.array([[1, 1, 0, 0]]), np.array([[1, 1, 1, 0]]))
    assert got[0, 0] == pytest.approx((3 - 1 - h_y) / 1.5)
    assert got[0, 0] == pytest.approx(0.7924812503605781)


def test_cardinality_inconsistency_by_hand() -> None:
    # labelled rows carry 1 label on average; predicted counts: x0 2, x1 1, x2 0
    probs = np.array([[0.9, 0.9, 0.1], [0.6, 0.1, 0.1], [0.2, 0.2, 0.2]])
    labelled = np.array([[1, 0, 0], [0, 1, 0]])
    pool = PoolView(size=3, probs=probs, labelled_targets=labelled)
    h = lambda p: float(binary_entropy(np.array(p)))  # noqa: E731
    expected = [
        (h(0.1) * 2) ** 0.5,  # u = H(0.1), |2 - 1| = 1
        ((h(0.6) + 2 * h(0.1)) / 3 * 1) ** 0.5,  # |1 - 1| = 0
        (h(0.2) * 2) ** 0.5,  # |0 - 1| = 1
    ]
    assert CardinalityInconsistency().scores(pool).tolist() == pytest.approx(expected)
    assert CardinalityInconsistency().select(pool, 2, rng()).tolist() == [2, 0]
    # pure entropy (beta = 1) would take x1 before x0
    assert CardinalityInconsistency(beta=1.0).select(pool, 2, rng()).tolist() == [2, 1]


def test_ties_are_broken_at_random_without_repeats() -> None:
    pool = PoolView(size=6, probs=np.full((6, 2), 0.5))
    picks = {tuple(MeanEntropy().select(pool, 6, rng(s)).tolist()) for s in range(5)}
    assert len(picks) > 1
    assert all(sorted(p) == list(range(6)) for p in picks)
