"""Windowed online figures: count served and judged homepages, and read many windows as one.

Windows are keyed by when the homepage was generated, so a window's served
and judged counts are about the same homepages.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ranker.online.coverage import coverage_add, coverage_estimate, coverage_merge
from ranker.online.join import Outcome
from ranker.online.proportions import Rate
from streams.wire import OnlineWindow, Shown

NO_VARIANT = "(no experiment)"  # how windows of workers without an experiment are named


def window_start(ts_ms: int, window_s: int) -> int:
    """The start (ms) of the tumbling window holding ``ts_ms``."""
    width = window_s * 1000
    return ts_ms - ts_ms % width


def add_served(window: OnlineWindow, shown: Shown) -> None:
    """Count a homepage shown in ``window``: its slots and its items' coverage."""
    window.served += 1
    for kind in shown.slot_kinds:
        window.slots_shown[kind] = window.slots_shown.get(kind, 0) + 1
    window.coverage = coverage_add(window.coverage, shown.item_ids)


def add_outcome(window: OnlineWindow, outcome: Outcome) -> None:
    """Count a judged homepage of ``window``."""
    window.judged += 1
    position = outcome.position
    if position is None:
        return
    window.clicked += 1
    window.ndcg_sum += 1.0 / math.log2(position + 2)
    if len(window.click_positions) <= position:
        window.click_positions.extend([0] * (position + 1 - len(window.click_positions)))
    window.click_positions[position] += 1
    kind = outcome.shown.slot_kinds[position]
    window.slots_clicked[kind] = window.slots_clicked.get(kind, 0) + 1


def refresh_interval(window: OnlineWindow) -> None:
    """Set the window's CTR fields from its counts."""
    rate = Rate(window.clicked, window.judged)
    window.ctr = rate.value
    window.ctr_low, window.ctr_high = rate.interval


@dataclass(frozen=True, slots=True)
class OnlineFigures:
    """Figures of a set of windows (say, one variant over the whole experiment)."""

    served: int
    judged: int
    clicked: int
    ndcg: float
    click_positions: list[int]
    items_shown: float  # distinct, estimated
    catalog_size: int
    slot_ctr: dict[str, Rate]
    model_versions: tuple[str, ...]

    @property
    def ctr(self) -> Rate:
        """Homepages clicked out of homepages judged."""
        return Rate(self.clicked, self.judged)

    @property
    def coverage(self) -> float:
        """Share of the catalog shown at least once (0 without a catalog size)."""
        return min(1.0, self.items_shown / self.catalog_size) if self.catalog_size else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        low, high = self.ctr.interval
        return {
            "served": self.served,
            "judged": self.judged,
            "clicked": self.clicked,
            "ctr": self.ctr.value,
            "ctr_95": [low, high],
            "ndcg": self.ndcg,
            "click_positions": self.click_positions,
            "items_shown": round(self.items_shown),
            "catalog_size": self.catalog_size,
            "coverage": self.coverage,
            "slot_ctr": {kind: rate.value for kind, rate in self.slot_ctr.items()},
            "slot_clicks": {kind: [r.hits, r.trials] for kind, r in self.slot_ctr.items()},
            "model_versions": list(self.model_versions),
        }


def combine(windows: Iterable[OnlineWindow]) -> OnlineFigures:
    """Sum windows (any partitions, times, models) into one set of figures."""
    windows = list(windows)
    positions: list[int] = []
    shown: dict[str, int] = {}
    clicked: dict[str, int] = {}
    for window in windows:
        for position, count in enumerate(window.click_positions):
            if position == len(positions):
                positions.append(0)
            positions[position] += count
        for kind, count in window.slots_shown.items():
            shown[kind] = shown.get(kind, 0) + count
        for kind, count in window.slots_clicked.items():
            clicked[kind] = clicked.get(kind, 0) + count
    judged = sum(w.judged for w in windows)
    return OnlineFigures(
        served=sum(w.served for w in windows),
        judged=judged,
        clicked=sum(w.clicked for w in windows),
        ndcg=sum(w.ndcg_sum for w in windows) / judged if judged else 0.0,
        click_positions=positions,
        items_shown=coverage_estimate(coverage_merge(w.coverage for w in windows)),
        catalog_size=max((w.catalog_size for w in windows), default=0),
        slot_ctr={kind: Rate(clicked.get(kind, 0), n) for kind, n in sorted(shown.items())},
        model_versions=tuple(sorted({w.model_version for w in windows})),
    )


def figures_by_variant(
    windows: Iterable[OnlineWindow], since_ms: int = 0
) -> dict[str, OnlineFigures]:
    """Each variant's figures over the windows starting at or after ``since_ms``, by name."""
    grouped: dict[str, list[OnlineWindow]] = defaultdict(list)
    for window in windows:
        if window.window_start >= since_ms:
            grouped[window.variant or NO_VARIANT].append(window)
    return {name: combine(group) for name, group in sorted(grouped.items())}
