"""Per-user state kept in the Faust table: bounded history, seen items, dedup.

Stored as compact msgpack bytes (not a Faust Record) so the table holds plain
values and the size per user stays small and predictable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack

STATE_VERSION = 1
DEDUP_WINDOW = 64

# How much each kind of interaction says about what the user wants next.
INTERACTION_WEIGHTS: dict[str, float] = {
    "click": 1.0,
    "view": 0.3,
    "dislike": -0.5,
}
# Interactions after which an item is not shown again.
SEEN_TYPES = frozenset({"click", "view", "dislike"})


@dataclass(slots=True)
class Interaction:
    """One remembered interaction with an item."""

    item_id: str
    type: str
    ts: int


@dataclass(slots=True)
class UserState:
    """What the ranking worker remembers about one user."""

    history: list[Interaction] = field(default_factory=list)  # oldest first
    seen: list[str] = field(default_factory=list)  # oldest first, unique
    recent_event_ids: list[str] = field(default_factory=list)
    processed: int = 0
    duplicates: int = 0
    last_event_ts: int = 0
    # Where the last applied event sat in the events topic. A user's events all
    # live in one partition, in order, so anything at or before this position
    # is a redelivery after a crash, however many events that replays.
    source_partition: int = -1
    source_offset: int = -1

    def is_duplicate(self, event_id: str, position: tuple[int, int] | None = None) -> bool:
        """True for a redelivered message or a recently seen event id (a producer retry)."""
        if position is not None and position[0] == self.source_partition:
            if position[1] <= self.source_offset:
                return True
        return event_id in self.recent_event_ids

    def apply(
        self,
        event_id: str,
        event_type: str,
        item_id: str | None,
        ts: int,
        *,
        history_size: int,
        seen_size: int,
        position: tuple[int, int] | None = None,
    ) -> bool:
        """Record an event; returns False (and changes nothing else) for a duplicate.

        ``position`` is the event's (partition, offset) in the events topic.
        """
        if self.is_duplicate(event_id, position):
            self.duplicates += 1
            return False
        if position is not None:
            self.source_partition, self.source_offset = position
        self.recent_event_ids.append(event_id)
        del self.recent_event_ids[:-DEDUP_WINDOW]
        self.processed += 1
        self.last_event_ts = max(self.last_event_ts, ts)
        if item_id is not None and event_type in INTERACTION_WEIGHTS:
            self.history.append(Interaction(item_id, event_type, ts))
            del self.history[:-history_size]
        if item_id is not None and event_type in SEEN_TYPES:
            if item_id in self.seen:
                self.seen.remove(item_id)
            self.seen.append(item_id)
            del self.seen[:-seen_size]
        return True

    def seen_set(self) -> set[str]:
        """Items this user should not be shown again."""
        return set(self.seen)

    def encode(self) -> bytes:
        """Serialize for the table store."""
        return msgpack.packb(
            [
                STATE_VERSION,
                [[i.item_id, i.type, i.ts] for i in self.history],
                self.seen,
                self.recent_event_ids,
                self.processed,
                self.duplicates,
                self.last_event_ts,
                self.source_partition,
                self.source_offset,
            ],
            use_bin_type=True,
        )

    @classmethod
    def decode(cls, raw: bytes | None) -> UserState:
        """Deserialize; ``None`` (no state yet) gives an empty state."""
        if not raw:
            return cls()
        (
            version,
            history,
            seen,
            event_ids,
            processed,
            duplicates,
            last_ts,
            partition,
            offset,
        ) = msgpack.unpackb(raw, raw=False)
        if version != STATE_VERSION:
            raise ValueError(f"unsupported user state version {version}")
        return cls(
            history=[Interaction(item, kind, ts) for item, kind, ts in history],
            seen=list(seen),
            recent_event_ids=list(event_ids),
            processed=processed,
            duplicates=duplicates,
            last_event_ts=last_ts,
            source_partition=partition,
            source_offset=offset,
        )
