"""What the diversity rule costs in ranking quality, measured on the offline split.

The model's full-ranking top lists are re-ordered with the same category cap
the live :class:`ranker.pipeline.selectors.DiversitySelector` applies, and Hit@10 /
nDCG@10 are recomputed on the re-ordered lists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ranker.pipeline.selectors import capped_order

WINDOW = 10


def capped_metrics(
    top_items: np.ndarray, targets: np.ndarray, keys: Sequence[str], max_per_key: int
) -> dict[str, float]:
    """Hit@10 and nDCG@10 after capping each category at ``max_per_key`` in the top 10.

    Args:
        top_items: ``(Q, K)`` item rows per scored moment, best first (K ≥ 10).
        targets: ``(Q,)`` the item row that was clicked.
        keys: category key per item row (``""`` when unknown).
        max_per_key: the cap.

    """
    hits = 0.0
    gains = 0.0
    for row, target in zip(top_items, targets, strict=True):
        order = capped_order([keys[i] for i in row], WINDOW, max_per_key)
        shown = [int(row[i]) for i in order[:WINDOW]]
        if int(target) in shown:
            hits += 1.0
            gains += 1.0 / np.log2(shown.index(int(target)) + 2.0)
    count = max(1, len(targets))
    return {"hit@10": hits / count, "full_ndcg@10": gains / count}


def diversity_cost(
    top_items: np.ndarray, targets: np.ndarray, keys: Sequence[str], caps: Sequence[int]
) -> dict[str, dict[str, float]]:
    """Metrics with no cap and with each cap in ``caps`` (keyed ``"none"``, ``"6"``, …)."""
    uncapped = capped_metrics(top_items, targets, keys, max_per_key=WINDOW)
    results = {"none": uncapped}
    for cap in caps:
        results[str(cap)] = capped_metrics(top_items, targets, keys, cap)
    return results
