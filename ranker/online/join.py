"""Online metrics: join served homepages with the events that follow them, per user.

A homepage is judged by its user's *next event after the one it answered*
(its ``source_event_id``): a click on one of its items is a click at that
slot, anything else is a homepage without a click. That is the prequential
replay's rule (ranker/eval/prequential.py), so online CTR and replay HitRate
agree on the same traffic. The join does not need the two topics to arrive
in order: a homepage waits in the user's state for its next event, and an
event remembered in ``recent`` judges a homepage that arrives after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack

from ranker.pipeline.selectors import EXPLORE_REASON
from streams.wire import Served, Shown

# Events a user's join state remembers: enough for the events topic to run
# this far ahead of the homepages that answer them.
RECENT_EVENTS = 16
# Homepages waiting for their next event; older ones are dropped unjudged.
PENDING_HOMEPAGES = 4


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
        return msgpack.packb(
            {
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
        payload = msgpack.unpackb(raw)
        return cls(
            recent=[SeenEvent(*entry) for entry in payload["recent"]],
            pending=[Shown.from_payload(entry) for entry in payload["pending"]],
            latest_shown_at=payload["latest_shown_at"],
        )
