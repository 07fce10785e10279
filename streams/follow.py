"""Reading whole topics outside any consumer group: replicas, boards, evaluations.

:class:`CompactedTopicFollower` is the one loop that keeps an in-memory copy of
compacted topics: the ranking worker's index replica and the homepage service
both run it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka_connection import KafkaConnection
from streams.wire import InvalidMessage, Ranking

log = logging.getLogger(__name__)

FETCH_RECORDS = 5000
FETCH_BYTES = 8 * 1024 * 1024
ASSIGNMENT_WAIT_S = 30.0
RETRY_S = 2.0


class Record(Protocol):
    """The parts of a consumer record the followers use."""

    topic: str
    key: bytes | None
    value: bytes | None
    offset: int


def whole_topic_consumer(kafka: KafkaConnection, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer of every partition of ``topics``, from the start, committing nothing.

    Without a group, subscribing assigns all partitions to this one consumer,
    which is what a process that must see the whole topic wants.
    """
    return AIOKafkaConsumer(
        *topics,
        **kafka.aiokafka(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )


def decoded_rankings(values: Iterable[bytes | None]) -> Iterator[Ranking]:
    """The valid rankings among raw record values (tombstones and bad ones skipped)."""
    for value in values:
        if value is None:
            continue
        try:
            yield Ranking.decode(value)
        except InvalidMessage:
            continue


class CompactedTopicFollower:
    """Reads every partition of compacted topics from the beginning, then follows them.

    ``apply`` gets each fetched partition's records in order (under ``lock``
    when one is given). ``ready`` is set once every topic of ``awaited`` has
    been read up to the end offsets it had at the start: the latest value of
    every key. :meth:`run_forever` starts over after a failure (no broker yet,
    a topic missing); reading from the start again is safe for state that
    keeps the latest value per key.
    """

    def __init__(
        self,
        kafka: KafkaConnection,
        topics: Sequence[str],
        apply: Callable[[list[Any]], None],
        *,
        awaited: Sequence[str] | None = None,
        lock: asyncio.Lock | None = None,
        ready: asyncio.Event | None = None,
        caught_up: dict[str, bool] | None = None,
        on_ready: Callable[[float], None] | None = None,
        after_fetch: Callable[[AIOKafkaConsumer, list[TopicPartition]], Awaitable[None]]
        | None = None,
        assignment_wait_s: float = ASSIGNMENT_WAIT_S,
    ) -> None:
        self._kafka = kafka
        self._topics = list(topics)
        self._apply = apply
        self._lock = lock
        self._on_ready = on_ready
        self._after_fetch = after_fetch
        self._assignment_wait_s = assignment_wait_s
        self.ready = ready or asyncio.Event()
        # Which awaited topics are caught up (the homepage's /readyz names them).
        self.caught_up = caught_up if caught_up is not None else {}
        self.caught_up.update({topic: False for topic in (awaited or self._topics)})

    async def run_forever(self, retry_s: float = RETRY_S) -> None:
        """Follow until cancelled, starting over after a failure."""
        while True:
            try:
                await self.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following %s failed; starting over in %.0fs", self._topics, retry_s)
                await asyncio.sleep(retry_s)

    async def run(self) -> None:
        """Follow until cancelled (or a failure, which is raised)."""
        consumer = whole_topic_consumer(
            self._kafka, *self._topics, max_partition_fetch_bytes=FETCH_BYTES
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            await consumer.seek_to_beginning(*partitions)
            end_offsets = await consumer.end_offsets(partitions)
            started = time.monotonic()
            await self._check_caught_up(consumer, end_offsets, started)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=FETCH_RECORDS)
                if self._lock is not None:
                    async with self._lock:
                        for records in batches.values():
                            self._apply(records)
                else:
                    for records in batches.values():
                        self._apply(records)
                await self._check_caught_up(consumer, end_offsets, started)
                if self._after_fetch is not None:
                    await self._after_fetch(consumer, partitions)
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        wanted = set(self._topics)
        deadline = time.monotonic() + self._assignment_wait_s
        while time.monotonic() < deadline:
            assigned = consumer.assignment()
            if {tp.topic for tp in assigned} >= wanted:
                return sorted(assigned)
            await asyncio.sleep(0.1)
        raise RuntimeError(
            f"topics {', '.join(sorted(wanted))} are missing; run `homefeed topics create`"
        )

    async def _check_caught_up(
        self,
        consumer: AIOKafkaConsumer,
        end_offsets: dict[TopicPartition, int],
        started: float,
    ) -> None:
        if self.ready.is_set():
            return
        for topic in self.caught_up:
            if self.caught_up[topic]:
                continue
            # Positions, not record offsets: compaction may have removed the last records.
            behind = [
                tp
                for tp, end in end_offsets.items()
                if tp.topic == topic and await consumer.position(tp) < end
            ]
            self.caught_up[topic] = not behind
        if all(self.caught_up.values()):
            self.ready.set()
            if self._on_ready is not None:
                self._on_ready(time.monotonic() - started)
