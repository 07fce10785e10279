"""Faust agents: consume → call plain code in ranker/ or indexer/ → send.

Agents stay thin: decoding, dead-lettering and the concurrency (a ranking
thread beside the event loop) live here; what to do with an event lives in
:class:`ranker.service.RankingService` (``receive``, ``rank``, ``publish``:
the calls its tests make) and :class:`indexer.service.IndexingService`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT

from indexer.service import IndexingService
from ranker.pending import PendingRankings, RankingRequest
from ranker.pipeline.side_effects import FilterStatsSideEffect
from ranker.pipeline.stages import RankedHomepage
from ranker.service import RankingService, user_runs
from streams.dead_letter import DeadLetterPublisher
from streams.index_feed import IndexFeed
from streams.tables import TableStateStore, writes_for
from streams.wire import Event, InvalidMessage, Item

log = logging.getLogger(__name__)

# Stages whose thread CPU time the ranking agents count (``cpu_<stage>_s``):
# decoding and dead-lettering, applying events to table state, ranking (its
# own thread), and building and sending the outputs. The event loop's time in
# a stage includes whatever other task ran while the stage awaited: a
# benchmark reads the process's total beside them.
STAGES = ("ingest", "state", "ranking", "produce")


def register_ranking_agents(
    app: faust.App,
    events_topic: faust.TopicT,
    table: faust.Table,  # type: ignore[type-arg]
    service: RankingService,
    feed: IndexFeed,
    dead_letter: DeadLetterPublisher,
    batch_size: int,
    batch_within_s: float = 0.005,
) -> dict[str, Any]:
    """Wire the batched state agent and the batched ranking loop.

    Where homepages go (rankings, served log) is the service pipeline's side effects.
    """
    store = TableStateStore(table)
    pending = PendingRankings(limit=4 * batch_size)
    # Counters for operators and benchmarks: ranking_s is time spent ranking
    # (in the thread), lock_wait_s time a batch waited for the replica feed;
    # cpu_*_s are CPU seconds of the thread doing each stage (STAGES).
    stats: dict[str, Any] = {
        "applied": 0,
        "duplicates": 0,
        "forgotten": 0,
        "rankings": 0,
        "batches": 0,
        "state_batches": 0,
        "ranking_s": 0.0,
        "lock_wait_s": 0.0,
        **{f"cpu_{stage}_s": 0.0 for stage in STAGES},
    }
    for effect in service.pipeline.side_effects:
        if isinstance(effect, FilterStatsSideEffect):
            stats["removed_by_filter"] = effect.removed  # kept current by the side effect

    @app.agent(events_topic, name="homefeed.update-user-state")
    async def update_user_state(stream: StreamT) -> None:  # type: ignore[type-arg]
        # A micro-batch of events is applied one user at a time: one state
        # read, decode, encode and write (one changelog record) per user per
        # batch instead of per event. Faust acknowledges the batch's offsets
        # only after this body has run for it, and commits them only after
        # the producer (changelog included) is flushed; redeliveries after a
        # crash are recognised by the offsets kept in the state.
        # take_events is on faust's Stream, not (yet) on its StreamT protocol.
        events = cast("Stream[Any]", stream)
        async for batch in events.take_events(batch_size, within=batch_within_s):
            cpu = time.thread_time()
            accepted: list[tuple[EventT, Event]] = []
            for event in batch:
                user_event = await _decoded(event, dead_letter)
                if user_event is not None:
                    accepted.append((event, user_event))
            stats["cpu_ingest_s"] += time.thread_time() - cpu
            await pending.has_room.wait()
            cpu = time.thread_time()
            for run in user_runs(accepted, lambda pair: pair[1].user_id).values():
                with writes_for(run[-1][0]):
                    counts = await service.receive_run(
                        [(user_event, _position(event)) for event, user_event in run],
                        store,
                        pending,
                    )
                for name, count in counts.items():
                    stats[name] += count
            stats["cpu_state_s"] += time.thread_time() - cpu
            stats["state_batches"] += 1

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
                    homepages, cpu_s = await asyncio.to_thread(_timed_rank, service, batch)
                    stats["ranking_s"] += time.perf_counter() - started
                    stats["cpu_ranking_s"] += cpu_s
                    stats["lock_wait_s"] += started - waited
                    stats["batches"] += 1
            except Exception:
                # One bad batch must not stop homepages for everyone else.
                log.exception("ranking a batch of %d users failed", len(batch))
                continue
            cpu = time.thread_time()
            published = await service.publish(homepages, pending)
            stats["cpu_produce_s"] += time.thread_time() - cpu
            stats["rankings"] += len(published)
            if stats["batches"] % 1000 == 0:
                log.info("ranking stats: %s", stats)
            await asyncio.sleep(0)  # let the state agent fill the next batch

    return stats


def _timed_rank(
    service: RankingService, batch: Sequence[RankingRequest]
) -> tuple[list[RankedHomepage], float]:
    """``service.rank(batch)`` and the CPU seconds it took on this (the ranking) thread."""
    cpu = time.thread_time()
    homepages = service.rank(batch)
    return homepages, time.thread_time() - cpu


async def _decoded(event: EventT, dead_letter: DeadLetterPublisher) -> Event | None:
    """The user event in ``event``, or None after dead-lettering it with the reason."""
    value = event.message.value
    if value is None:
        await dead_letter.reject(event, "message has no value")
        return None
    try:
        user_event = Event.decode(value)
    except InvalidMessage as error:
        await dead_letter.reject(event, str(error))
        return None
    key = event.message.key
    if key is not None and key != user_event.user_id.encode():
        await dead_letter.reject(event, "message key does not match user_id")
        return None
    return user_event


def _position(event: EventT) -> tuple[int, int]:
    """(partition, offset): how the state recognises a redelivered event."""
    return event.message.partition, event.message.offset


def register_indexing_agent(
    app: faust.App,
    items_topic: faust.TopicT,
    vectors_topic: faust.TopicT,
    service: IndexingService,
    dead_letter: DeadLetterPublisher,
    batch_size: int,
    encode_lock: asyncio.Lock,
    load_published: Callable[[], Awaitable[int]] | None = None,
) -> None:
    """Wire the agent that turns catalog items into item vectors.

    The agent only queues catalog records; a task encodes them. Faust hands
    every topic's records to its agents in one delivery loop, and a full
    agent queue blocks that loop for all topics: while BERT worked through a
    catalog, clicks and malformed events waited minutes behind it. Records are
    acknowledged (and so committed) only once their vectors are sent, so a
    crash re-delivers what was not encoded yet.

    ``load_published`` (when given) teaches the service what item-vectors
    already holds; the task runs it once, before its first batch.
    """
    backlog: deque[EventT] = deque()
    queued = asyncio.Event()
    acker: list[StreamT] = []  # type: ignore[type-arg]

    @app.agent(items_topic, name="homefeed.encode-items")
    async def queue_items(stream: StreamT) -> None:  # type: ignore[type-arg]
        unacked = stream.noack()  # type: ignore[attr-defined]
        acker[:] = [unacked]
        async for event in unacked.events():
            backlog.append(event)
            queued.set()

    @app.task
    async def encode_items() -> None:
        if load_published is not None:
            await load_published()
        while True:
            await queued.wait()
            events = [backlog.popleft() for _ in range(min(batch_size, len(backlog)))]
            if not backlog:
                queued.clear()
            try:
                await _encode_batch(events, service, vectors_topic, dead_letter, encode_lock)
            except Exception:
                log.exception("encoding a batch of %d catalog records failed", len(events))
                continue  # not acknowledged: a restart re-delivers them
            for event in events:
                await acker[0].ack(event)


async def _encode_batch(
    events: list[EventT],
    service: IndexingService,
    vectors_topic: faust.TopicT,
    dead_letter: DeadLetterPublisher,
    encode_lock: asyncio.Lock,
) -> None:
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
