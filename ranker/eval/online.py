"""Online metrics: join served homepages with the events that follow them, per user.

A homepage is judged by its user's *next event after the one it answered*
(its ``source_event_id``): a click on one of its items is a click at that
slot, anything else is a homepage without a click. That is the prequential
replay's rule (ranker/eval/prequential.py), so online CTR and replay HitRate
agree on the same traffic. The join does not need the two topics to arrive
in order: a homepage waits in the user's state for its next event, and an
event remembered in ``recent`` judges a homepage that arrives after it.

Windows are keyed by when the homepage was generated, so a window's served
and judged counts are about the same homepages.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ranker.eval.proportions import Rate
from ranker.pipeline.selectors import EXPLORE_REASON
from streams.wire import Served
from streams.wire.fields import pack, unpack_map
from streams.wire.online import OnlineWindow, Shown

# Events a user's join state remembers: enough for the events topic to run
# this far ahead of the homepages that answer them.
RECENT_EVENTS = 16
# Homepages waiting for their next event; older ones are dropped unjudged.
PENDING_HOMEPAGES = 4
COVERAGE_BITS = 10  # 1,024 HyperLogLog registers: about 3% error on distinct items


def slot_kind(source: str, reason: str) -> str:
    """What filled a slot: exploration, trending, or the user's own candidates."""
    if reason == EXPLORE_REASON:
        return "exploration"
    return "trending" if source == "trending" else "personal"


def shown_from_served(served: Served) -> Shown:
    """The part of an impression-log entry the join needs."""
    items = sorted(served.items, key=lambda item: item.position)
    return Shown(
        user_id=served.user_id,
        item_ids=tuple(item.item_id for item in items),
        slot_kinds=tuple(slot_kind(item.source, item.reason) for item in items),
        model_version=served.model_version,
        variant=served.variant or "",
        source_event_id=served.source_event_id,
        generated_at=served.generated_at,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """A judged homepage: the slot its user clicked next, or None."""

    shown: Shown
    position: int | None


@dataclass(frozen=True, slots=True)
class SeenEvent:
    """What the join keeps of a user event."""

    event_id: str
    item_id: str | None
    type: str


def judge(shown: Shown, following: SeenEvent) -> Outcome:
    """The outcome of ``shown`` given the user's next event."""
    if following.type == "click" and following.item_id in shown.item_ids:
        return Outcome(shown, shown.item_ids.index(following.item_id))
    return Outcome(shown, None)


@dataclass(slots=True)
class UserJoin:
    """One user's side of the join: recent events and homepages not yet judged."""

    recent: list[SeenEvent] = field(default_factory=list)
    pending: list[Shown] = field(default_factory=list)
    # Newest homepage accepted: a redelivered record is not counted twice.
    latest_shown_at: int = 0

    def on_event(self, event: SeenEvent) -> list[Outcome]:
        """Remember ``event``; judge the homepages it follows."""
        if any(seen.event_id == event.event_id for seen in self.recent):
            return []  # redelivered
        # A homepage not made from an event is judged by the first one after it.
        outcomes = [judge(shown, event) for shown in self.pending if shown.source_event_id is None]
        self.pending = [shown for shown in self.pending if shown.source_event_id is not None]
        self.recent = [*self.recent, event][-RECENT_EVENTS:]
        return outcomes + self._resolve()

    def on_shown(self, shown: Shown) -> tuple[bool, list[Outcome]]:
        """Take a served homepage: (whether it is new, the outcomes now known)."""
        if shown.generated_at <= self.latest_shown_at:
            return False, []
        self.latest_shown_at = shown.generated_at
        self.pending = [*self.pending, shown][-PENDING_HOMEPAGES:]
        return True, self._resolve()

    def _resolve(self) -> list[Outcome]:
        where = {seen.event_id: index for index, seen in enumerate(self.recent)}
        outcomes: list[Outcome] = []
        waiting: list[Shown] = []
        for shown in self.pending:
            index = where.get(shown.source_event_id or "")
            if index is not None and index + 1 < len(self.recent):
                outcomes.append(judge(shown, self.recent[index + 1]))
            else:
                waiting.append(shown)
        self.pending = waiting
        return outcomes

    def encode(self) -> bytes:
        """Serialize for the join table."""
        return pack(
            {
                "schema": 1,
                "recent": [[e.event_id, e.item_id, e.type] for e in self.recent],
                "pending": [shown.to_payload() for shown in self.pending],
                "latest_shown_at": self.latest_shown_at,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | None) -> UserJoin:
        """The stored state, or a fresh one."""
        if raw is None:
            return cls()
        payload = unpack_map(raw)
        return cls(
            recent=[SeenEvent(*entry) for entry in payload["recent"]],
            pending=[Shown.from_payload(entry) for entry in payload["pending"]],
            latest_shown_at=payload["latest_shown_at"],
        )


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


# --- catalog coverage: HyperLogLog, mergeable across partitions and windows ---


def _register_and_rank(item_id: str) -> tuple[int, int]:
    hashed = int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big")
    register = hashed >> (64 - COVERAGE_BITS)
    rest = hashed & ((1 << (64 - COVERAGE_BITS)) - 1)
    rank = (64 - COVERAGE_BITS) - rest.bit_length() + 1
    return register, rank


def coverage_add(registers: bytes, item_ids: Iterable[str]) -> bytes:
    """``registers`` (empty = none yet) with ``item_ids`` added."""
    values = bytearray(registers or bytes(1 << COVERAGE_BITS))
    for item_id in item_ids:
        register, rank = _register_and_rank(item_id)
        if rank > values[register]:
            values[register] = rank
    return bytes(values)


def coverage_merge(many: Iterable[bytes]) -> bytes:
    """The registers of the union of the sets behind ``many``."""
    merged = np.zeros(1 << COVERAGE_BITS, dtype=np.uint8)
    for registers in many:
        if registers:
            np.maximum(merged, np.frombuffer(registers, dtype=np.uint8), out=merged)
    return merged.tobytes()


def coverage_estimate(registers: bytes) -> float:
    """Estimated distinct items behind ``registers``."""
    if not registers:
        return 0.0
    values = np.frombuffer(registers, dtype=np.uint8).astype(np.float64)
    m = float(len(values))
    raw = 0.7213 / (1 + 1.079 / m) * m * m / float(np.sum(np.exp2(-values)))
    empty = int(np.count_nonzero(values == 0))
    if raw <= 2.5 * m and empty:
        return m * math.log(m / empty)  # linear counting: better for small sets
    return raw


# --- reading: many windows (partitions, time) into one set of figures ---


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
