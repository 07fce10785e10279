"""Keeps a worker's index replica in step with the compacted item-vectors topic.

Every ranking worker reads *all* partitions of item-vectors (no consumer
group), from the beginning, so each holds the whole catalog.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from indexer.replica import IndexReplica
from streams.follow import whole_topic_consumer
from streams.wire import InvalidMessage, ItemVector

log = logging.getLogger(__name__)

FETCH_RECORDS = 5000


class IndexFeed:
    """Consumes item vectors into an :class:`IndexReplica`; ``ready`` once caught up."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        replica: IndexReplica,
        lock: asyncio.Lock | None = None,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._replica = replica
        # Held while the replica changes; a ranking pass in a thread holds it too.
        self.lock = lock or asyncio.Lock()
        self.ready = asyncio.Event()
        self.rejected = 0

    async def run(self) -> None:
        """Follow the topic until cancelled."""
        consumer = whole_topic_consumer(
            self._bootstrap, self._topic, max_partition_fetch_bytes=8 * 1024 * 1024
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            await consumer.seek_to_beginning(*partitions)
            end_offsets = await consumer.end_offsets(partitions)
            started = time.monotonic()
            await self._check_caught_up(consumer, end_offsets)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=FETCH_RECORDS)
                async with self.lock:
                    for records in batches.values():
                        self._apply(records)
                if not self.ready.is_set() and await self._check_caught_up(consumer, end_offsets):
                    log.info(
                        "index replica caught up: %d items in %.1fs",
                        len(self._replica),
                        time.monotonic() - started,
                    )
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        for _ in range(100):
            assigned = consumer.assignment()
            if assigned:
                return sorted(assigned)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self._topic} does not exist; run `homefeed topics create`")

    async def _check_caught_up(
        self, consumer: AIOKafkaConsumer, end_offsets: dict[TopicPartition, int]
    ) -> bool:
        # Positions, not record offsets: compaction may have removed the last records.
        for tp, end in end_offsets.items():
            if await consumer.position(tp) < end:
                return False
        self.ready.set()
        return True

    def _apply(self, records: list) -> None:  # type: ignore[type-arg]
        vectors: list[ItemVector] = []
        for record in records:
            if record.value is None:
                if vectors:  # keep order: flush upserts before the delete
                    self._replica.apply(vectors)
                    vectors = []
                self._replica.remove([record.key.decode()])
                continue
            try:
                vectors.append(ItemVector.decode(record.value))
            except InvalidMessage as error:
                self.rejected += 1
                log.warning("ignoring invalid item vector at offset %d: %s", record.offset, error)
        self._replica.apply(vectors)
