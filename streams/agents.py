"""Faust agents: consume → call plain code in ranker/ or indexer/ → send.

Agents stay thin: decoding, dead-lettering and sending live here; what to do
with an event lives in :class:`ranker.service.RankingService` and
:class:`indexer.service.IndexingService`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any, Protocol

import faust
from faust.types import StreamT

from indexer.service import IndexingService
from ranker.service import RankingService
from ranker.state import UserState
from streams.dead_letter import DeadLetterPublisher
from streams.index_feed import IndexFeed
from streams.wire import Event, InvalidMessage, Item

log = logging.getLogger(__name__)


class Output(Protocol):
    """Where an agent sends results: a Faust topic, or a recorder in tests."""

    async def send(self, key: bytes | None = None, value: bytes | None = None) -> Any:
        """Queue one record."""
        ...


class ProducerOutput:
    """Sends raw bytes straight to the worker's Kafka producer.

    Faust's ``Topic.send`` wraps each record in futures, callbacks and sensor
    hooks; for the two records of every ranking that was a large share of the
    worker's event-loop time (docs/benchmarks.md). Partitioning is the same:
    the client's default partitioner on the key.
    """

    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self._topic = topic

    async def send(self, key: bytes | None = None, value: bytes | None = None) -> Any:
        """Queue one record; returns the delivery future without awaiting it."""
        return await self._app.producer.send(self._topic, key, value, None, None, None)


class TableStateStore:
    """Adapts a Faust table of raw bytes to :class:`ranker.service.UserStateStore`."""

    def __init__(self, table: faust.Table) -> None:  # type: ignore[type-arg]
        self._table = table

    def get(self, user_id: str) -> bytes | None:
        """Stored state bytes, or None."""
        return self._table.get(user_id.encode())  # type: ignore[no-any-return]

    def put(self, user_id: str, state: bytes) -> None:
        """Store state bytes (the table writes its changelog)."""
        self._table[user_id.encode()] = state

    def delete(self, user_id: str) -> None:
        """Forget the user, locally and in the changelog."""
        self._table.pop(user_id.encode(), None)


class PendingRankings:
    """Users whose homepage must be recomputed, latest event per user.

    Coalescing means a burst of clicks by one user costs one ranking, and the
    ranking loop always sees a batch it can score in one call.
    """

    def __init__(self, limit: int) -> None:
        self._pending: dict[str, tuple[Event, UserState]] = {}
        self._limit = limit
        self.has_work = asyncio.Event()
        self.has_room = asyncio.Event()
        self.has_room.set()
        # Users forgotten since the last take: a batch being ranked when the
        # forget arrived must not publish their homepage after the tombstone.
        self.forgotten_since_take: set[str] = set()

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

    def take(self, size: int) -> list[tuple[Event, UserState]]:
        """Remove and return up to ``size`` oldest requests."""
        users = list(self._pending)[:size]
        batch = [self._pending.pop(user) for user in users]
        self.forgotten_since_take = set()
        if not self._pending:
            self.has_work.clear()
        if len(self._pending) < self._limit:
            self.has_room.set()
        return batch


def register_ranking_agents(
    app: faust.App,
    events_topic: faust.TopicT,
    rankings_topic: Output,
    served_topic: Output,
    table: faust.Table,  # type: ignore[type-arg]
    service: RankingService,
    feed: IndexFeed,
    dead_letter: DeadLetterPublisher,
    batch_size: int,
) -> dict[str, Any]:
    """Wire the per-event state agent and the batched ranking loop."""
    store = TableStateStore(table)
    pending = PendingRankings(limit=4 * batch_size)
    # Counters for operators and benchmarks: ranking_s is time spent ranking
    # (in the thread), lock_wait_s time a batch waited for the replica feed.
    stats: dict[str, Any] = {
        "applied": 0,
        "duplicates": 0,
        "rankings": 0,
        "batches": 0,
        "ranking_s": 0.0,
        "lock_wait_s": 0.0,
    }

    @app.agent(events_topic, name="homefeed.update-user-state")
    async def update_user_state(stream: StreamT) -> None:  # type: ignore[type-arg]
        # State is written per event, inside the event's own context, so Faust
        # files it under the event's partition (table and changelog agree).
        async for event in stream.events():
            raw = event.message.value
            try:
                user_event = Event.decode(raw)
            except InvalidMessage as error:
                await dead_letter.reject(event, str(error))
                continue
            key = event.message.key
            if key is not None and key != user_event.user_id.encode():
                await dead_letter.reject(event, "message key does not match user_id")
                continue
            await pending.has_room.wait()
            position = (event.message.partition, event.message.offset)
            state = service.apply(user_event, store, position)
            if user_event.type == "forget":
                pending.discard(user_event.user_id)
                await rankings_topic.send(key=user_event.user_id.encode(), value=None)
            elif state is None:
                stats["duplicates"] += 1
            else:
                stats["applied"] += 1
                pending.add(user_event, state)

    @app.task
    async def rank_pending_users() -> None:
        await feed.ready.wait()
        # The replica is now hundreds of thousands of long-lived objects; a
        # full collection walking them stalled the loop ~100 ms at 100k items
        # (the freshness p99). Collect once, then exempt them from later scans.
        gc.collect()
        gc.freeze()
        while True:
            await pending.has_work.wait()
            batch = pending.take(batch_size)
            try:
                # Ranked in a thread: FAISS and numpy release the GIL, so the
                # event loop keeps applying events (and filling the next
                # batch) meanwhile. The feed's lock keeps the replica still.
                waited = time.perf_counter()
                async with feed.lock:
                    started = time.perf_counter()
                    outputs = await asyncio.to_thread(service.rank_and_log, batch)
                    stats["ranking_s"] += time.perf_counter() - started
                    stats["lock_wait_s"] += started - waited
                    stats["batches"] += 1
            except Exception:
                # One bad batch must not stop homepages for everyone else.
                log.exception("ranking a batch of %d users failed", len(batch))
                continue
            for ranking, served in outputs:
                if ranking.user_id in pending.forgotten_since_take:
                    continue
                key = ranking.user_id.encode()
                await rankings_topic.send(key=key, value=ranking.encode())
                await served_topic.send(key=key, value=served.encode())
            stats["rankings"] += len(outputs)
            if stats["batches"] % 1000 == 0:
                log.info("ranking stats: %s", stats)
            await asyncio.sleep(0)  # let the state agent fill the next batch

    return stats


def register_indexing_agent(
    app: faust.App,
    items_topic: faust.TopicT,
    vectors_topic: faust.TopicT,
    service: IndexingService,
    dead_letter: DeadLetterPublisher,
    batch_size: int,
    encode_lock: asyncio.Lock,
) -> None:
    """Wire the agent that turns catalog items into item vectors."""

    @app.agent(items_topic, name="homefeed.encode-items")
    async def encode_items(stream: StreamT) -> None:  # type: ignore[type-arg]
        async for events in stream.take_events(batch_size, within=0.2):
            log.info("indexing batch of %d messages", len(events))
            items: list[Item] = []
            for event in events:
                raw = event.message.value
                if raw is None:  # catalog tombstone: the item is gone everywhere
                    if event.message.key is not None:
                        service.forget(bytes(event.message.key).decode())
                    await vectors_topic.send(key=event.message.key, value=None)
                    continue
                try:
                    items.append(Item.decode(raw))
                except InvalidMessage as error:
                    await dead_letter.reject(event, str(error))
            # BERT releases the GIL: encode in a thread so the loop keeps serving.
            async with encode_lock:
                vectors = await asyncio.to_thread(service.encode_changed, items)
                for vector in vectors:
                    await vectors_topic.send(key=vector.item_id.encode(), value=vector.encode())
            log.info("encoded %d of %d items", len(vectors), len(items))
