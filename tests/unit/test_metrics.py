import numpy as np
import pytest

from ranker.eval.metrics import (
    auc,
    dcg_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    ranked_relevance,
    reciprocal_rank,
    target_ranks,
)


def test_ranked_relevance_orders_by_score_and_keeps_ties_in_input_order() -> None:
    ranked = ranked_relevance(np.array([0.1, 0.9, 0.5, 0.5]), np.array([1, 0, 0, 1]))
    np.testing.assert_array_equal(ranked, [0, 0, 1, 1])


def test_hit_rate_counts_a_relevant_item_inside_the_cutoff_only() -> None:
    assert hit_rate_at_k(np.array([0, 0, 1]), 3) == 1.0
    assert hit_rate_at_k(np.array([0, 0, 1]), 2) == 0.0


def test_reciprocal_rank_is_one_over_first_relevant_position() -> None:
    assert reciprocal_rank(np.array([0, 0, 1, 1])) == pytest.approx(1 / 3)
    assert reciprocal_rank(np.array([0, 0, 1]), k=2) == 0.0
    assert reciprocal_rank(np.array([0, 0])) == 0.0


def test_ndcg_matches_hand_computation() -> None:
    # Relevant at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3).
    ranked = np.array([0, 1, 1, 0])
    expected = (1 / np.log2(3) + 0.5) / (1 + 1 / np.log2(3))
    assert ndcg_at_k(ranked, 4) == pytest.approx(expected)
    assert dcg_at_k(ranked, 2) == pytest.approx(1 / np.log2(3))
    assert ndcg_at_k(np.array([1, 0, 0]), 5) == 1.0
    assert ndcg_at_k(np.array([0, 0, 1]), 2) == 0.0
    assert ndcg_at_k(np.array([0, 0]), 2) == 0.0


def test_auc_counts_pairs_and_half_ties() -> None:
    # Positives 0.8, 0.4; negatives 0.6, 0.4, 0.1: pairs won 3 + 1 + 0.5 tie = 4.5 of 6.
    scores = np.array([0.8, 0.6, 0.4, 0.4, 0.1])
    labels = np.array([1, 0, 1, 0, 0])
    assert auc(scores, labels) == pytest.approx(4.5 / 6)
    assert auc(np.array([2.0, 1.0]), np.array([1, 0])) == 1.0
    assert auc(np.array([1.0, 2.0]), np.array([1, 0])) == 0.0


def test_auc_needs_both_labels() -> None:
    with pytest.raises(ValueError):
        auc(np.array([0.1, 0.2]), np.array([1, 1]))


def test_target_ranks_equal_the_evaluations_full_ranking_with_ties_and_seen_items() -> None:
    from ranker.eval.evaluate import full_ranking

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(50, 30)).astype(np.float32)  # many ties
    seen = [rng.choice(30, size=int(rng.integers(0, 6)), replace=False) for _ in range(50)]
    targets = np.array([rng.choice(np.setdiff1d(np.arange(30), s)) for s in seen])
    _, ranks = full_ranking(scores, seen, k=10)
    np.testing.assert_array_equal(
        target_ranks(scores, seen, targets), ranks[np.arange(50), targets]
    )
