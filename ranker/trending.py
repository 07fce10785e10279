"""Trending items: interaction counts that decay with event time.

A count that halves every ``half_life_s`` of *event* time is a sliding window
without buckets: replaying an old log gives the trending list of that moment,
not of today. Values are stored relative to a reference time so an update is
one multiply-add; the reference moves forward before the numbers overflow.
"""

from __future__ import annotations

import heapq

# Positive interactions only: a dislike is not a vote for the item.
TRENDING_WEIGHTS: dict[str, float] = {"click": 1.0, "view": 0.3}
_REBASE_EXPONENT = 60.0  # 2**60 is far from float64 overflow, far above noise


class TrendingCounter:
    """Exponentially decayed popularity of items, bounded in size."""

    def __init__(self, half_life_s: float, max_items: int = 50_000) -> None:
        self._half_life_ms = half_life_s * 1000.0
        self._max_items = max_items
        self._reference_ms: int | None = None
        self._latest_ms = 0
        self._scores: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._scores)

    def add(self, item_id: str, event_type: str, ts_ms: int) -> None:
        """Count one interaction at event time ``ts_ms``."""
        weight = TRENDING_WEIGHTS.get(event_type)
        if weight is None:
            return
        if self._reference_ms is None:
            self._reference_ms = ts_ms
        self._latest_ms = max(self._latest_ms, ts_ms)
        exponent = (ts_ms - self._reference_ms) / self._half_life_ms
        if exponent > _REBASE_EXPONENT:
            self._rebase(ts_ms)
            exponent = 0.0
        self._scores[item_id] = self._scores.get(item_id, 0.0) + weight * 2.0**exponent
        if len(self._scores) > 2 * self._max_items:
            self._prune()

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` hottest items with their decayed counts as of the latest event."""
        if self._reference_ms is None:
            return []
        scale = 2.0 ** (-(self._latest_ms - self._reference_ms) / self._half_life_ms)
        best = heapq.nlargest(k, self._scores.items(), key=lambda entry: entry[1])
        return [(item_id, score * scale) for item_id, score in best]

    def remove(self, item_id: str) -> None:
        """Forget an item (deleted from the catalog)."""
        self._scores.pop(item_id, None)

    def _rebase(self, new_reference_ms: int) -> None:
        assert self._reference_ms is not None
        factor = 2.0 ** (-(new_reference_ms - self._reference_ms) / self._half_life_ms)
        self._scores = {
            item: score * factor for item, score in self._scores.items() if score * factor > 1e-9
        }
        self._reference_ms = new_reference_ms

    def _prune(self) -> None:
        keep = heapq.nlargest(self._max_items, self._scores.items(), key=lambda e: e[1])
        self._scores = dict(keep)
