"""Users whose homepage must be recomputed: the queue between applying events and ranking."""

from __future__ import annotations

import asyncio

from ranker.state import UserState
from streams.wire import Event

RankingRequest = tuple[Event, UserState]


class PendingRankings:
    """Users whose homepage must be recomputed, latest event per user.

    Coalescing means a burst of clicks by one user costs one ranking, and the
    ranking loop always sees a batch it can score in one call.
    """

    def __init__(self, limit: int) -> None:
        self._pending: dict[str, RankingRequest] = {}
        self._limit = limit
        self.has_work = asyncio.Event()
        self.has_room = asyncio.Event()
        self.has_room.set()
        # Users forgotten since the last take: a batch being ranked when the
        # forget arrived must not publish their homepage after the tombstone.
        self.forgotten_since_take: set[str] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, event: Event, state: UserState) -> None:
        """Queue (or refresh) a user's ranking request."""
        self._pending.pop(event.user_id, None)  # re-insert: newest requests go last
        self._pending[event.user_id] = (event, state)
        self.has_work.set()
        if len(self._pending) >= self._limit:
            self.has_room.clear()

    def discard(self, user_id: str) -> None:
        """Drop a queued request (the user was forgotten)."""
        self._pending.pop(user_id, None)
        self.forgotten_since_take.add(user_id)

    def take(self, size: int) -> list[RankingRequest]:
        """Remove and return up to ``size`` oldest requests."""
        users = list(self._pending)[:size]
        batch = [self._pending.pop(user) for user in users]
        self.forgotten_since_take = set()
        if not self._pending:
            self.has_work.clear()
        if len(self._pending) < self._limit:
            self.has_room.set()
        return batch
