"""Per-user state kept in the Faust table: bounded history, seen items, dedup.

Stored as compact msgpack bytes (not a Faust Record) so the table holds plain
values and the size per user stays small and predictable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import msgpack

# Version 2 packs history and dedup ids compactly (≤ 2 KB for a full user,
# see docs/benchmarks.md); version 1 states are still read.
STATE_VERSION = 2
DEDUP_WINDOW = 64
_FINGERPRINT_BYTES = 8
# One letter per interaction type on the wire; history only holds these types.
_KIND_CODES = {"click": "c", "view": "v", "dislike": "d"}
_KIND_NAMES = {code: kind for kind, code in _KIND_CODES.items()}


def event_fingerprint(event_id: str) -> int:
    """A 64-bit hash of an event id: what the dedup window remembers (8 bytes, not ~33)."""
    digest = hashlib.blake2b(event_id.encode(), digest_size=_FINGERPRINT_BYTES).digest()
    return int.from_bytes(digest, "little")


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
    # Fingerprints of recent event ids (event_fingerprint); a collision needs
    # two ids of one user in 64 events sharing 64 bits.
    recent_event_ids: list[int] = field(default_factory=list)
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
        return event_fingerprint(event_id) in self.recent_event_ids

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
        self.recent_event_ids.append(event_fingerprint(event_id))
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
        """Serialize for the table store (version 2: columns, deltas, back-references)."""
        history = self.history
        kinds = "".join(_KIND_CODES.get(i.type, "?") for i in history)
        ts_deltas = []
        previous = self.last_event_ts
        for interaction in history:  # small ints pack in 1-3 bytes instead of 9
            ts_deltas.append(interaction.ts - previous)
            previous = interaction.ts
        # Most seen items are also in the history: point at their position there.
        position = {i.item_id: n for n, i in enumerate(history)}
        seen = [position.get(item_id, item_id) for item_id in self.seen]
        return msgpack.packb(
            [
                STATE_VERSION,
                [i.item_id for i in history],
                kinds if "?" not in kinds else [i.type for i in history],
                ts_deltas,
                seen,
                b"".join(fp.to_bytes(_FINGERPRINT_BYTES, "little") for fp in self.recent_event_ids),
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
        fields = msgpack.unpackb(raw, raw=False)
        if fields[0] == 1:
            return cls._decode_v1(fields)
        if fields[0] != STATE_VERSION:
            raise ValueError(f"unsupported user state version {fields[0]}")
        (
            _,
            items,
            kinds,
            ts_deltas,
            seen,
            fingerprints,
            processed,
            duplicates,
            last_ts,
            partition,
            offset,
        ) = fields
        history = []
        previous = last_ts
        for item_id, kind, delta in zip(items, kinds, ts_deltas, strict=True):
            previous += delta
            history.append(Interaction(item_id, _KIND_NAMES.get(kind, kind), previous))
        return cls(
            history=history,
            seen=[items[ref] if isinstance(ref, int) else ref for ref in seen],
            recent_event_ids=[
                int.from_bytes(fingerprints[n : n + _FINGERPRINT_BYTES], "little")
                for n in range(0, len(fingerprints), _FINGERPRINT_BYTES)
            ],
            processed=processed,
            duplicates=duplicates,
            last_event_ts=last_ts,
            source_partition=partition,
            source_offset=offset,
        )

    @classmethod
    def _decode_v1(cls, fields: list) -> UserState:  # type: ignore[type-arg]
        """Version 1: plain lists, event ids as text (fingerprinted on load)."""
        _, history, seen, event_ids, processed, duplicates, last_ts, *position = fields
        partition, offset = position if position else (-1, -1)
        return cls(
            history=[Interaction(item, kind, ts) for item, kind, ts in history],
            seen=list(seen),
            recent_event_ids=[event_fingerprint(event_id) for event_id in event_ids],
            processed=processed,
            duplicates=duplicates,
            last_event_ts=last_ts,
            source_partition=partition,
            source_offset=offset,
        )
