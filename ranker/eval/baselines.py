"""Baseline rankers for the offline evaluation, each scoring the whole catalog.

Every ranker maps a batch of scored moments (their histories) to a
``(B, items)`` score matrix; higher ranks first. All of them see only what was
known at the split time: counts and co-occurrences come from earlier events.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy import sparse

from ranker.training.histories import Histories


class CatalogRanker(Protocol):
    """Scores every catalog item for each scored moment."""

    name: str

    def scores(self, histories: Histories, positions: np.ndarray) -> np.ndarray:
        """``(B, items)`` scores; ``positions`` are the events' places in the log."""
        ...


class RandomRanker:
    """Uniform random scores, reproducible per event (seed + log position)."""

    name = "random"

    def __init__(self, item_count: int, seed: int = 0) -> None:
        self._item_count = item_count
        self._seed = seed

    def scores(self, histories: Histories, positions: np.ndarray) -> np.ndarray:
        """A fresh seeded permutation-like score vector per event."""
        return np.stack(
            [
                np.random.default_rng([self._seed, int(p)]).random(self._item_count)
                for p in positions
            ]
        )


class PopularityRanker:
    """Interactions per item before the split time."""

    name = "popularity"

    def __init__(self, popularity: np.ndarray) -> None:
        self._popularity = popularity.astype(np.float64)

    def scores(self, histories: Histories, positions: np.ndarray) -> np.ndarray:
        """The same counts for everyone."""
        return np.broadcast_to(self._popularity, (len(positions), len(self._popularity))).copy()


class ZeroShotBertRanker:
    """Cosine between an item's pretrained-encoder vector and the user's history mean.

    The history mean weighs each interaction by its weight (clicks 1, views
    0.3); dislikes are left out. No training at all.
    """

    name = "zero_shot_bert"

    def __init__(self, item_vectors: np.ndarray) -> None:
        self._vectors = item_vectors.astype(np.float32)

    def scores(self, histories: Histories, positions: np.ndarray) -> np.ndarray:
        """One matrix product per batch."""
        weights = np.clip(histories.weights, 0.0, None)[..., None]
        pooled = (self._vectors[histories.items] * weights).sum(axis=1)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-6)
        return pooled @ self._vectors.T


class ItemKnnRanker:
    """Sum of cosine co-occurrence similarities to the items in the user's history.

    Two items co-occur when one user interacted with both before the split
    time; similarity is ``co(i, j) / sqrt(n_i * n_j)``.
    """

    name = "item_knn"

    def __init__(self, users: np.ndarray, items: np.ndarray, item_count: int) -> None:
        pairs = np.unique(np.stack([users, items], axis=1), axis=0)
        user_count = int(users.max()) + 1 if len(users) else 1
        matrix = sparse.csr_matrix(
            (np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])),
            shape=(user_count, item_count),
        )
        co_occurrence = (matrix.T @ matrix).tocsr().astype(np.float32)
        counts = np.asarray(matrix.sum(axis=0)).ravel()
        inverse_norm = sparse.diags(1.0 / np.sqrt(np.maximum(counts, 1.0)))
        self._similarity = (inverse_norm @ co_occurrence @ inverse_norm).tocsr()
        self._similarity.setdiag(0.0)
        self._similarity.eliminate_zeros()
        self._item_count = item_count

    def scores(self, histories: Histories, positions: np.ndarray) -> np.ndarray:
        """History indicator rows times the similarity matrix."""
        rows = np.repeat(np.arange(len(histories)), histories.items.shape[1])
        indicator = sparse.csr_matrix(
            (histories.mask.ravel().astype(np.float32), (rows, histories.items.ravel())),
            shape=(len(histories), self._item_count),
        )
        indicator.data = np.minimum(indicator.data, 1.0)  # duplicates sum; count once
        return np.asarray((indicator @ self._similarity).todense(), dtype=np.float64)
