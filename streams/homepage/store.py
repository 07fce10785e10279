"""What the service serves from: the latest ranking per user and the merged trending list.

Both are filled by :class:`streams.homepage.feed.HomepageFeed` and read by the
HTTP handlers; everything runs on one event loop, so no locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from streams.wire import Ranking, TrendingList

log = logging.getLogger(__name__)

# A worker that stopped publishing leaves its last list in the compacted topic
# forever; lists this much older than the newest one no longer count.
TRENDING_STALE_MS = 5 * 60 * 1000


class RankingStore:
    """Latest ranking per user, bounded: the least recently updated user is dropped first.

    A user dropped for room (or forgotten) is served the trending list until
    their next ranking arrives.
    """

    def __init__(self, max_users: int) -> None:
        if max_users < 1:
            raise ValueError("max_users must be at least 1")
        self._rankings: OrderedDict[str, Ranking] = OrderedDict()
        self._max_users = max_users
        self.evicted = 0
        self._subscribers: dict[str, set[asyncio.Queue[Ranking | None]]] = {}

    def __len__(self) -> int:
        return len(self._rankings)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._rankings

    def get(self, user_id: str) -> Ranking | None:
        """Return the user's latest ranking, or None."""
        return self._rankings.get(user_id)

    def put(self, ranking: Ranking) -> None:
        """Keep ``ranking`` as its user's latest, unless an older one arrives late."""
        current = self._rankings.get(ranking.user_id)
        if current is not None and current.generated_at > ranking.generated_at:
            return
        self._rankings.pop(ranking.user_id, None)
        self._rankings[ranking.user_id] = ranking
        while len(self._rankings) > self._max_users:
            self._rankings.popitem(last=False)
            self.evicted += 1
        self._notify(ranking.user_id, ranking)

    def forget(self, user_id: str) -> bool:
        """Drop a user (a tombstone on the rankings topic); True if they were here."""
        known = self._rankings.pop(user_id, None) is not None
        self._notify(user_id, None)
        return known

    def recent_users(self, limit: int) -> list[str]:
        """Users with the most recently updated rankings, newest first."""
        users: list[str] = []
        for user_id in reversed(self._rankings):
            if len(users) >= limit:
                break
            users.append(user_id)
        return users

    @contextmanager
    def subscribe(self, user_id: str) -> Iterator[asyncio.Queue[Ranking | None]]:
        """Yield a queue that receives each new ranking of ``user_id`` (None: forgotten).

        The queue holds only the newest update: a slow reader skips stale pages.
        """
        queue: asyncio.Queue[Ranking | None] = asyncio.Queue(maxsize=1)
        self._subscribers.setdefault(user_id, set()).add(queue)
        try:
            yield queue
        finally:
            listeners = self._subscribers.get(user_id)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    del self._subscribers[user_id]

    @property
    def subscriber_count(self) -> int:
        """Open live-update subscriptions."""
        return sum(len(queues) for queues in self._subscribers.values())

    def _notify(self, user_id: str, ranking: Ranking | None) -> None:
        for queue in self._subscribers.get(user_id, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(ranking)


class TrendingBoard:
    """Merges the per-worker trending lists into one.

    Each worker counts the events of its own partitions, so the global score of
    an item is the sum of its scores across workers.
    """

    def __init__(self, stale_ms: int = TRENDING_STALE_MS) -> None:
        self._lists: dict[bytes, TrendingList] = {}
        self._stale_ms = stale_ms
        self._merged: list[tuple[str, float]] | None = None

    def put(self, worker: bytes, trending: TrendingList | None) -> None:
        """Replace a worker's list (None: the worker's record was deleted)."""
        if trending is None:
            self._lists.pop(worker, None)
        else:
            self._lists[worker] = trending
        self._merged = None

    @property
    def generated_at(self) -> int | None:
        """When the newest list was published (ms), or None."""
        return max((t.generated_at for t in self._lists.values()), default=None)

    def top(self, limit: int) -> list[tuple[str, float]]:
        """Return the merged list, best first."""
        if self._merged is None:
            self._merged = self._merge()
        return self._merged[:limit]

    def _merge(self) -> list[tuple[str, float]]:
        newest = self.generated_at
        if newest is None:
            return []
        scores: dict[str, float] = {}
        for trending in self._lists.values():
            if newest - trending.generated_at > self._stale_ms:
                continue
            for item_id, score in trending.items:
                scores[item_id] = scores.get(item_id, 0.0) + score
        return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
