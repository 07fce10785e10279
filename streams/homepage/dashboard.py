"""What the operators' dashboard shows: online CTR per variant over time, freshness, lag, top items.

:class:`OnlineBoard` holds the latest record of every key of the compacted
``online-metrics`` topic (one per partition, window, variant and model) and
sums them per variant; :class:`FreshnessBoard` keeps per-minute percentiles
of the rankings this service receives. :func:`dashboard_view` is the JSON
``/v1/dashboard`` returns and ``/dashboard`` draws.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ranker.online.windows import NO_VARIANT, OnlineFigures, combine, figures_by_variant
from streams.homepage.catalog import Catalog
from streams.homepage.store import TrendingBoard
from streams.wire import OnlineWindow

KEEP_MS = 24 * 3600 * 1000  # windows the board remembers
RECENT_MS = 3600 * 1000  # "now": the last hour, for the summary and Prometheus
SERIES_MS = 6 * 3600 * 1000  # the CTR-over-time chart
FRESHNESS_MINUTES = 30
SAMPLES_PER_MINUTE = 4096  # enough for a p99; beyond it every other sample is kept


class OnlineBoard:
    """The online-metrics topic in memory: latest record per key, summed per variant."""

    def __init__(self, keep_ms: int = KEEP_MS) -> None:
        self._windows: dict[bytes, OnlineWindow] = {}
        self._keep_ms = keep_ms

    def __len__(self) -> int:
        return len(self._windows)

    def put(self, key: bytes, window: OnlineWindow | None) -> None:
        """Replace a key's record (None: deleted)."""
        if window is None:
            self._windows.pop(key, None)
        else:
            self._windows[key] = window

    def prune(self, now_ms: int) -> None:
        """Forget windows older than the board keeps."""
        oldest = now_ms - self._keep_ms
        for key in [k for k, w in self._windows.items() if w.window_start < oldest]:
            del self._windows[key]

    def by_variant(self, since_ms: int = 0) -> dict[str, OnlineFigures]:
        """Each variant's figures over windows starting at or after ``since_ms``."""
        return figures_by_variant(self._windows.values(), since_ms)

    def series(self, since_ms: int = 0) -> dict[str, list[dict[str, Any]]]:
        """Per variant, one point per window (partitions and models summed), oldest first."""
        grouped: dict[tuple[str, int], list[OnlineWindow]] = defaultdict(list)
        for window in self._windows.values():
            if window.window_start < since_ms:
                continue
            grouped[(window.variant or NO_VARIANT, window.window_start)].append(window)
        series: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (variant, start), windows in sorted(grouped.items()):
            figures = combine(windows)
            low, high = figures.ctr.interval
            series[variant].append(
                {
                    "window_start": start,
                    "served": figures.served,
                    "judged": figures.judged,
                    "clicked": figures.clicked,
                    "ctr": figures.ctr.value,
                    "ctr_95": [low, high],
                }
            )
        return dict(series)


@dataclass
class FreshnessBoard:
    """Per-minute freshness and delivery percentiles of the rankings received."""

    minutes: int = FRESHNESS_MINUTES
    _samples: dict[int, dict[str, list[float]]] = field(default_factory=dict)

    def observe(self, now_ms: int, freshness_s: float | None, delivery_s: float) -> None:
        """Record one ranking's figures at ``now_ms``."""
        minute = now_ms // 60_000
        bucket = self._samples.setdefault(minute, {"freshness": [], "delivery": []})
        for name, value in (("freshness", freshness_s), ("delivery", delivery_s)):
            if value is None:
                continue
            values = bucket[name]
            values.append(value)
            if len(values) > SAMPLES_PER_MINUTE:
                del values[::2]  # thin evenly: percentiles stay honest, memory bounded
        for old in [m for m in self._samples if m <= minute - self.minutes]:
            del self._samples[old]

    def per_minute(self) -> list[dict[str, Any]]:
        """One entry per minute with samples: p50 and p99 of freshness and delivery (s)."""
        return [
            {
                "minute_start": minute * 60_000,
                "rankings": max(len(bucket["delivery"]), len(bucket["freshness"])),
                **{
                    f"{name}_{label}": _percentile(values, q)
                    for name, values in bucket.items()
                    for label, q in (("p50", 0.5), ("p99", 0.99))
                },
            }
            for minute, bucket in sorted(self._samples.items())
        ]


def _percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank), or None without samples."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def dashboard_view(
    online: OnlineBoard,
    freshness: FreshnessBoard,
    lag: dict[str, int],
    trending: TrendingBoard,
    catalog: Catalog,
    now_ms: int,
) -> dict[str, Any]:
    """Everything ``/dashboard`` draws, as JSON."""
    online.prune(now_ms)
    return {
        "generated_at": now_ms,
        "variants": {
            name: figures.to_dict()
            for name, figures in online.by_variant(now_ms - RECENT_MS).items()
        },
        "variants_all": {name: figures.to_dict() for name, figures in online.by_variant().items()},
        "series": online.series(now_ms - SERIES_MS),
        "freshness": freshness.per_minute(),
        "lag": dict(sorted(lag.items())),
        "top_items": [
            {"item_id": item_id, "title": catalog.title(item_id), "score": score}
            for item_id, score in trending.top(10)
        ],
    }
