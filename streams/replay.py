"""Publishes a data set to Kafka: its catalog first, then its events in time order."""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from indexer.datasets import Dataset
from streams.kafka_connection import KafkaConnection
from streams.topics import TopicNames
from streams.wire import Event, Item, now_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay sent and how fast."""

    items: int
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        """Sustained event rate of the replay."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


def make_producer(kafka: KafkaConnection) -> AIOKafkaProducer:
    """A producer tuned for bulk sends: batches of up to 256 KiB, 5 ms linger."""
    return AIOKafkaProducer(
        **kafka.aiokafka(),
        linger_ms=5,
        max_batch_size=256 * 1024,
        acks="all",
        enable_idempotence=True,
    )


async def publish_items(producer: AIOKafkaProducer, topic: str, items: Iterable[Item]) -> int:
    """Send catalog items keyed by item id; returns how many were sent."""
    count = 0
    for item in items:
        await producer.send(topic, key=item.item_id.encode(), value=item.encode())
        count += 1
    await producer.flush()
    return count


async def publish_events(
    producer: AIOKafkaProducer,
    topic: str,
    events: Iterable[Event],
    *,
    rate: float | None = None,
    progress: bool = False,
    total: int | None = None,
) -> int:
    """Send events keyed by user id, at most ``rate`` per second when given."""
    started = time.monotonic()
    count = 0
    with tqdm(total=total, unit="ev", disable=not progress, desc="events") as bar:
        for event in events:
            await producer.send(topic, key=event.user_id.encode(), value=event.encode())
            count += 1
            if rate:
                ahead = count / rate - (time.monotonic() - started)
                if ahead > 0.005:  # sleep in slices, not per event
                    await producer.flush()
                    await asyncio.sleep(ahead)
            if count % 1000 == 0:
                bar.update(1000)
        bar.update(count % 1000)
    await producer.flush()
    return count


async def replay(
    kafka: KafkaConnection,
    topics: TopicNames,
    dataset: Dataset,
    *,
    rate: float | None = None,
    limit: int | None = None,
    progress: bool = False,
    with_items: bool = True,
) -> ReplayReport:
    """Publish the catalog (unless told not to), then up to ``limit`` events at ``rate``/s."""
    events = dataset.events[:limit] if limit is not None else dataset.events
    producer = make_producer(kafka)
    await producer.start()
    try:
        items_sent = 0
        if with_items:
            items_sent = await publish_items(producer, topics.items, dataset.items)
            log.info("published %d items to %s", items_sent, topics.items)
        started = time.monotonic()
        sent = await publish_events(
            producer, topics.events, events, rate=rate, progress=progress, total=len(events)
        )
        elapsed = time.monotonic() - started
    finally:
        await producer.stop()
    return ReplayReport(items_sent, sent, elapsed)


CATCH_UP_POLL_S = 0.5


@dataclass(slots=True)
class TwoPeriodReplay:
    """A log sent as history, then live: which period is being sent, and how much of it."""

    phase: str = "starting"
    history_events: int = 0
    live_events: int = 0
    live_since_ms: int | None = None  # wall clock when the live period began

    @property
    def finished(self) -> bool:
        """True once every event has been sent."""
        return self.phase == "finished"


async def replay_history_then_live(
    producer: AIOKafkaProducer,
    topic: str,
    events: list[Event],
    *,
    live_from_ms: int,
    rate: float | None,
    caught_up: Callable[[], Awaitable[bool]] | None = None,
    catch_up_timeout_s: float = 900.0,
    replay: TwoPeriodReplay | None = None,
) -> TwoPeriodReplay:
    """Send the events before ``live_from_ms`` at full speed, the rest at ``rate``.

    The history only builds state, so it goes as fast as the broker takes it.
    Before the live period starts, ``caught_up`` is polled until the workers
    have consumed the history (bounded): a live click must meet a homepage
    made as it would be live, not one still buried in a backlog.
    """
    replay = TwoPeriodReplay() if replay is None else replay
    cut = bisect_left(events, live_from_ms, key=lambda event: event.ts)
    replay.history_events, replay.live_events = cut, len(events) - cut
    replay.phase = "history"
    await publish_events(producer, topic, events[:cut])
    if caught_up is not None and cut:
        replay.phase = "catching up"
        deadline = time.monotonic() + catch_up_timeout_s
        while not await caught_up():
            if time.monotonic() > deadline:
                log.warning("workers still behind after %.0fs; going live", catch_up_timeout_s)
                break
            await asyncio.sleep(CATCH_UP_POLL_S)
    replay.phase = "live"
    replay.live_since_ms = now_ms()
    await publish_events(producer, topic, events[cut:], rate=rate)
    replay.phase = "finished"
    return replay
