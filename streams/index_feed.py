"""Keeps a worker's index replica in step with the compacted item-vectors topic.

Every ranking worker reads *all* partitions of item-vectors (no consumer
group), from the beginning, so each holds the whole catalog.
"""

from __future__ import annotations

import asyncio
import logging

from indexer.replica import IndexReplica
from streams.follow import CompactedTopicFollower, Record
from streams.kafka_connection import KafkaConnection
from streams.wire import InvalidMessage, ItemVector

log = logging.getLogger(__name__)

# A missing topic is reported after this long (the worker creates topics first).
ASSIGNMENT_WAIT_S = 10.0


class IndexFeed:
    """Consumes item vectors into an :class:`IndexReplica`; ``ready`` once caught up."""

    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        replica: IndexReplica,
        lock: asyncio.Lock | None = None,
    ) -> None:
        self._replica = replica
        # Held while the replica changes; a ranking pass in a thread holds it too.
        self.lock = lock or asyncio.Lock()
        self.ready = asyncio.Event()
        self.rejected = 0
        self._follower = CompactedTopicFollower(
            kafka,
            [topic],
            self.apply,
            lock=self.lock,
            ready=self.ready,
            on_ready=self._caught_up,
            assignment_wait_s=ASSIGNMENT_WAIT_S,
        )

    async def run(self) -> None:
        """Follow the topic until cancelled, starting over after a failure."""
        await self._follower.run_forever()

    def apply(self, records: list[Record]) -> None:
        """Upsert and delete items in record order."""
        vectors: list[ItemVector] = []
        for record in records:
            if record.value is None:
                if vectors:  # keep order: flush upserts before the delete
                    self._replica.apply(vectors)
                    vectors = []
                if record.key is not None:
                    self._replica.remove([record.key.decode()])
                continue
            try:
                vectors.append(ItemVector.decode(record.value))
            except InvalidMessage as error:
                self.rejected += 1
                log.warning("ignoring invalid item vector at offset %d: %s", record.offset, error)
        self._replica.apply(vectors)

    def _caught_up(self, seconds: float) -> None:
        log.info("index replica caught up: %d items in %.1fs", len(self._replica), seconds)
