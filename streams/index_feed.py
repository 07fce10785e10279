"""Keeps a worker's index replica in step with the compacted item-vectors topic.

Every ranking worker reads *all* partitions of item-vectors (no consumer
group), from the beginning, so each holds the whole catalog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

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

    def apply(self, records: Sequence[Record]) -> None:
        """Apply a batch as the compacted topic would: the newest record per item wins.

        Items are independent, so only each item's last valid record matters:
        all upserts go in one FAISS call and all deletes in another. Applying
        records one by one cost a FAISS ``remove_ids`` (a pass over every
        stored vector) per tombstone, which stalled ranking under catalog churn.
        """
        latest: dict[str, ItemVector | None] = {}
        for record in records:
            if record.key is None and record.value is None:
                continue
            if record.value is None:
                assert record.key is not None
                latest[record.key.decode()] = None
                continue
            try:
                vector = ItemVector.decode(record.value)
            except InvalidMessage as error:
                self.rejected += 1
                log.warning("ignoring invalid item vector at offset %d: %s", record.offset, error)
                continue
            latest.pop(vector.item_id, None)  # keep dict order = order of the newest records
            latest[vector.item_id] = vector
        deleted = [item_id for item_id, vector in latest.items() if vector is None]
        if deleted:
            self._replica.remove(deleted)
        self._replica.apply([vector for vector in latest.values() if vector is not None])

    def _caught_up(self, seconds: float) -> None:
        log.info("index replica caught up: %d items in %.1fs", len(self._replica), seconds)
