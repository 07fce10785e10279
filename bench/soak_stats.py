"""The soak's numbers: one sample per interval, slopes, and the bounded-growth verdict.

Pure functions of the samples, so the verdict is unit-tested without a broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

WARM_UP_FRACTION = 0.2  # caches, the FAISS index and the allocator settle first
# ... and never less than this: in the first minute the memtables, torch's
# kernel caches and the allocator's arenas fill whatever the run's length.
WARM_UP_MIN_MINUTES = 1.0
METRICS = ("rss_mb", "open_fds", "state_mb", "lag", "p99_ms")


@dataclass(frozen=True, slots=True)
class SoakSample:
    """The worker and the pipeline at one moment of the soak."""

    minute: float
    rss_mb: float
    open_fds: int
    state_mb: float  # the worker's state folder: RocksDB tables and their logs
    lag: int  # events not yet committed by the worker's consumer group
    p99_ms: float  # freshness of the events answered since the last sample
    answered: int  # events answered since the last sample
    catalog_items: int

    def as_dict(self) -> dict[str, float]:
        """The sample as JSON-ready numbers."""
        return {key: round(value, 2) for key, value in asdict(self).items()}


def settled(samples: Sequence[SoakSample]) -> list[SoakSample]:
    """The samples after the warm-up (at least the last two, when there are two).

    The warm-up is the first fifth of the run, and at least its first minute.
    """
    if not samples:
        return []
    warm_up = max(WARM_UP_FRACTION * samples[-1].minute, WARM_UP_MIN_MINUTES)
    skip = sum(1 for sample in samples if sample.minute <= warm_up)
    return list(samples[min(skip, max(0, len(samples) - 2)) :])


def slope_per_hour(samples: Sequence[SoakSample], metric: str) -> float:
    """Least-squares slope of ``metric`` in units per hour (0 with fewer than two samples)."""
    points = [(s.minute, getattr(s, metric)) for s in samples]
    points = [(t, v) for t, v in points if np.isfinite(v)]
    if len(points) < 2 or len({t for t, _ in points}) < 2:
        return 0.0
    minutes, values = np.array(points, dtype=np.float64).T
    return float(np.polyfit(minutes, values, 1)[0] * 60.0)


def summary(samples: Sequence[SoakSample]) -> dict[str, float]:
    """Start (first settled sample), end and slope per hour of every metric."""
    steady = settled(samples)
    figures: dict[str, float] = {}
    if not steady:
        return figures
    for metric in METRICS:
        figures[f"{metric}_start"] = round(float(getattr(steady[0], metric)), 2)
        figures[f"{metric}_end"] = round(float(getattr(steady[-1], metric)), 2)
        figures[f"{metric}_slope_per_h"] = round(slope_per_hour(steady, metric), 2)
    return figures


def growth_problems(
    samples: Sequence[SoakSample],
    rate: float,
    *,
    rss_growth: float = 0.25,
    state_growth: float = 0.5,
    state_allowance_mb: float = 16.0,
    lag_seconds: float = 10.0,
) -> list[str]:
    """What grew without bound, in words; empty when the soak held steady.

    After the warm-up, resident memory may grow at most ``rss_growth`` (and the
    state folder ``state_growth``) of its settled start, plus an absolute
    allowance (allocator noise; for the state folder, RocksDB's memtable budget,
    whose write-ahead log fills before it is flushed), and the lag must end below ``lag_seconds``
    of traffic (a worker that falls behind at half its drain rate keeps falling
    behind; its commits trail by a few seconds, so the bound has room for that).
    """
    steady = settled(samples)
    if len(steady) < 2:
        return ["fewer than two samples after the warm-up: nothing to judge"]
    first, last = steady[0], steady[-1]
    problems = []
    if last.rss_mb > first.rss_mb * (1 + rss_growth) + 32:
        problems.append(f"worker memory grew from {first.rss_mb:.0f} to {last.rss_mb:.0f} MiB")
    if last.state_mb > first.state_mb * (1 + state_growth) + state_allowance_mb:
        problems.append(f"state folder grew from {first.state_mb:.1f} to {last.state_mb:.1f} MiB")
    if last.open_fds > first.open_fds + 64:
        problems.append(f"open files grew from {first.open_fds} to {last.open_fds}")
    bound = rate * lag_seconds
    if last.lag > bound:
        problems.append(f"lag ended at {last.lag} events (> {bound:.0f}, {lag_seconds:g} s)")
    return problems
