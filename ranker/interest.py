"""User interest: a recency-weighted pool of the vectors of recent interactions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ranker.state import INTERACTION_WEIGHTS, Interaction


def recency_weights(history: Sequence[Interaction], half_life: float) -> np.ndarray:
    """Weight per interaction: its type's weight, halved every ``half_life`` newer ones."""
    count = len(history)
    age = np.arange(count - 1, -1, -1, dtype=np.float32)  # newest has age 0
    decay = np.power(np.float32(0.5), age / np.float32(half_life))
    kind = np.array([INTERACTION_WEIGHTS.get(i.type, 0.0) for i in history], dtype=np.float32)
    return decay * kind


def pool_interest(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Weighted sum of item vectors, L2-normalised; None when nothing positive remains.

    Dislikes carry negative weight, so they push the interest away from what the
    user rejected instead of only hiding that one item.
    """
    if len(vectors) == 0 or not np.any(weights > 0):
        return None
    pooled = weights @ vectors
    norm = float(np.linalg.norm(pooled))
    if norm < 1e-6:
        return None
    return (pooled / norm).astype(np.float32)
