"""Ranking metrics as pure functions.

List metrics take a *ranked* relevance vector (1 for a relevant item, 0 for
not, best-scored first) so tie handling is the caller's explicit choice;
:func:`ranked_relevance` makes one from scores with a stable sort, so equal
scores keep the input order. ``auc`` takes scores and counts ties as one half.
"""

from __future__ import annotations

import numpy as np


def ranked_relevance(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels reordered by descending score; ties keep input order."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return np.asarray(labels)[order]


def hit_rate_at_k(ranked: np.ndarray, k: int) -> float:
    """1.0 if any relevant item is in the top ``k``, else 0.0."""
    return float(np.any(np.asarray(ranked)[:k] > 0))


def reciprocal_rank(ranked: np.ndarray, k: int | None = None) -> float:
    """1 / rank of the first relevant item (0.0 if none within the top ``k``)."""
    hits = np.flatnonzero(np.asarray(ranked)[:k] > 0)
    return 1.0 / (hits[0] + 1) if len(hits) else 0.0


def dcg_at_k(ranked: np.ndarray, k: int) -> float:
    """Discounted cumulative gain of the top ``k`` (gain = relevance, discount log2(rank+1))."""
    gains = np.asarray(ranked, dtype=np.float64)[:k]
    return float(np.sum(gains / np.log2(np.arange(2, len(gains) + 2))))


def ndcg_at_k(ranked: np.ndarray, k: int) -> float:
    """DCG@k over the best possible DCG@k for these labels (0.0 if nothing is relevant)."""
    ideal = dcg_at_k(np.sort(np.asarray(ranked))[::-1], k)
    return dcg_at_k(ranked, k) / ideal if ideal > 0 else 0.0


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random relevant item outscores a random irrelevant one.

    Ties count one half. Raises ValueError without both kinds of label.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(labels) > 0
    positives, negatives = scores[positive], scores[~positive]
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("AUC needs at least one relevant and one irrelevant item")
    # Rank-sum (Mann-Whitney U) with average ranks for ties: O(n log n).
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = ranks[positive].sum()
    count = len(positives)
    return float((rank_sum - count * (count + 1) / 2.0) / (count * len(negatives)))


def target_ranks(scores: np.ndarray, seen: list[np.ndarray], targets: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target in a full ranking without that row's ``seen`` items.

    Ties keep catalog order, exactly as a stable sort of the scores would
    (``ranker.eval.evaluate.full_ranking``), so early stopping and the report
    judge a ranking the same way; it counts instead of sorting the catalog.
    """
    masked = scores.astype(np.float64, copy=True)
    for row, items in enumerate(seen):
        masked[row, items] = -np.inf
    rows = np.arange(len(targets))
    target_scores = masked[rows, targets][:, None]
    earlier = np.arange(masked.shape[1])[None, :] < targets[:, None]
    return (masked > target_scores).sum(axis=1) + ((masked == target_scores) & earlier).sum(axis=1)
