"""Trending items: interaction counts that decay with event time.

A count that halves every ``half_life_s`` of *event* time is a sliding window
without buckets: replaying an old log gives the trending list of that moment,
not of today. Values are stored relative to a reference time so an update is
one multiply-add; the reference moves forward before the numbers overflow.

Decay scales every count alike, so it never changes the order; only an add
does, and only for the item added. That lets the counter keep its leaders
(the top ``LEADERS`` items) up to date per add instead of scanning every
item on each ``top`` call, which a worker makes once per ranking batch.
"""

from __future__ import annotations

import heapq
import threading

# Positive interactions only: a dislike is not a vote for the item.
TRENDING_WEIGHTS: dict[str, float] = {"click": 1.0, "view": 0.3}
_REBASE_EXPONENT = 60.0  # 2**60 is far from float64 overflow, far above noise
LEADERS = 256  # top() up to this k is answered from the leaders alone


class TrendingCounter:
    """Exponentially decayed popularity of items, bounded in size."""

    def __init__(self, half_life_s: float, max_items: int = 50_000) -> None:
        self._half_life_ms = half_life_s * 1000.0
        self._max_items = max_items
        self._reference_ms: int | None = None
        self._latest_ms = 0
        self._scores: dict[str, float] = {}
        # Invariant while not None: exactly the top LEADERS items of _scores.
        self._leaders: dict[str, float] | None = {}
        self._floor = 0.0  # at most the weakest leader's score: adds below it change nothing
        # A worker ranks in a thread while its event loop keeps counting.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._scores)

    def add(self, item_id: str, event_type: str, ts_ms: int) -> None:
        """Count one interaction at event time ``ts_ms``."""
        weight = TRENDING_WEIGHTS.get(event_type)
        if weight is None:
            return
        with self._lock:
            self._add(item_id, weight, ts_ms)

    def _add(self, item_id: str, weight: float, ts_ms: int) -> None:
        if self._reference_ms is None:
            self._reference_ms = ts_ms
        self._latest_ms = max(self._latest_ms, ts_ms)
        exponent = (ts_ms - self._reference_ms) / self._half_life_ms
        if exponent > _REBASE_EXPONENT:
            self._rebase(ts_ms)
            exponent = 0.0
        score = self._scores.get(item_id, 0.0) + weight * 2.0**exponent
        self._scores[item_id] = score
        self._lift(item_id, score)
        if len(self._scores) > 2 * self._max_items:
            self._prune()

    def _lift(self, item_id: str, score: float) -> None:
        leaders = self._leaders
        if leaders is None:
            return
        if item_id in leaders or len(leaders) < LEADERS:
            leaders[item_id] = score
            return
        if score <= self._floor:  # the common case: a long-tail item, one comparison
            return
        weakest = min(leaders, key=leaders.__getitem__)
        if score > leaders[weakest]:
            del leaders[weakest]
            leaders[item_id] = score
            weakest = min(leaders, key=leaders.__getitem__)
        self._floor = leaders[weakest]

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` hottest items with their decayed counts as of the latest event."""
        with self._lock:
            return self._top(k)

    def _top(self, k: int) -> list[tuple[str, float]]:
        if self._reference_ms is None:
            return []
        scale = 2.0 ** (-(self._latest_ms - self._reference_ms) / self._half_life_ms)
        if self._leaders is None:
            self._leaders = dict(heapq.nlargest(LEADERS, self._scores.items(), key=_score))
            self._floor = 0.0
        pool = self._leaders if k <= LEADERS else self._scores
        best = heapq.nlargest(k, pool.items(), key=_score)
        return [(item_id, score * scale) for item_id, score in best]

    def remove(self, item_id: str) -> None:
        """Forget an item (deleted from the catalog)."""
        with self._lock:
            self._remove(item_id)

    def _remove(self, item_id: str) -> None:
        if self._scores.pop(item_id, None) is not None and self._leaders is not None:
            if self._leaders.pop(item_id, None) is not None:
                self._leaders = None  # the next-best item is unknown until rescanned

    def _rebase(self, new_reference_ms: int) -> None:
        assert self._reference_ms is not None
        factor = 2.0 ** (-(new_reference_ms - self._reference_ms) / self._half_life_ms)
        self._scores = {
            item: score * factor for item, score in self._scores.items() if score * factor > 1e-9
        }
        self._reference_ms = new_reference_ms
        self._leaders = None

    def _prune(self) -> None:
        keep = heapq.nlargest(self._max_items, self._scores.items(), key=lambda e: e[1])
        self._scores = dict(keep)
        self._leaders = None


def _score(entry: tuple[str, float]) -> float:
    return entry[1]
