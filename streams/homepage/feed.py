"""Follows the rankings, trending and item-vectors topics into the service's memory.

One consumer without a group reads every partition of the three topics from
the beginning (all are compacted, so that is the latest state per key). The
service is ready once it has read up to the end offsets the topics had when it
started.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.follow import whole_topic_consumer
from streams.homepage.catalog import Catalog
from streams.homepage.metrics import HomepageMetrics
from streams.homepage.store import RankingStore, TrendingBoard
from streams.topics import TopicNames
from streams.wire import InvalidMessage, ItemVector, Ranking, TrendingList, now_ms

log = logging.getLogger(__name__)

FETCH_RECORDS = 5000
ASSIGNMENT_WAIT_S = 30.0
RETRY_S = 2.0


class Record(Protocol):
    """The parts of a consumer record the feed uses."""

    topic: str
    key: bytes | None
    value: bytes | None
    offset: int


@dataclass
class HomepageState:
    """Everything the HTTP side reads; filled by :class:`HomepageFeed`."""

    store: RankingStore
    trending: TrendingBoard = field(default_factory=TrendingBoard)
    catalog: Catalog = field(default_factory=Catalog)
    metrics: HomepageMetrics = field(default_factory=HomepageMetrics)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Which topics are caught up (for /readyz to say what it waits for).
    caught_up: dict[str, bool] = field(default_factory=dict)


class HomepageFeed:
    """Applies records of the three topics to a :class:`HomepageState`."""

    def __init__(self, bootstrap_servers: str, topics: TopicNames, state: HomepageState) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._state = state
        # Readiness waits for rankings (what is served) and item-vectors (the
        # titles on the cards); trending is refreshed every few seconds anyway.
        self._awaited = (topics.rankings, topics.item_vectors)
        state.caught_up = {topic: False for topic in self._awaited}

    def apply(self, records: Iterable[Record]) -> None:
        """Route each record to the store, the trending board or the catalog."""
        live = self._state.ready.is_set()
        for record in records:
            try:
                if record.topic == self._topics.rankings:
                    self._apply_ranking(record, live)
                elif record.topic == self._topics.item_vectors:
                    self._apply_item(record)
                elif record.topic == self._topics.trending:
                    self._apply_trending(record)
            except InvalidMessage as error:
                self._state.metrics.invalid_messages.labels(record.topic).inc()
                log.warning("ignoring invalid message on %s at offset %d: %s",
                            record.topic, record.offset, error)
        metrics = self._state.metrics
        metrics.served_users.set(len(self._state.store))
        metrics.catalog_items.set(len(self._state.catalog))

    def _apply_ranking(self, record: Record, live: bool) -> None:
        if record.value is None:  # tombstone: the user asked to be forgotten
            if record.key is not None:
                self._state.store.forget(record.key.decode(errors="replace"))
                self._state.metrics.rankings_forgotten.inc()
            return
        ranking = Ranking.decode(record.value)
        self._state.store.put(ranking)
        metrics = self._state.metrics
        metrics.rankings_consumed.labels(ranking.model_version).inc()
        if live:
            now = now_ms()
            metrics.delivery.observe(max(0, now - ranking.generated_at) / 1000)
            if ranking.source_event_ts is not None:
                metrics.freshness.observe(max(0, now - ranking.source_event_ts) / 1000)

    def _apply_item(self, record: Record) -> None:
        if record.value is None:
            if record.key is not None:
                self._state.catalog.remove(record.key.decode(errors="replace"))
            return
        vector = ItemVector.decode(record.value)
        self._state.catalog.put(vector.item_id, vector.title, vector.category)

    def _apply_trending(self, record: Record) -> None:
        worker = record.key or b""
        trending = None if record.value is None else TrendingList.decode(record.value)
        self._state.trending.put(worker, trending)

    async def run_forever(self, retry_s: float = RETRY_S) -> None:
        """Consume until cancelled, starting over after a failure (e.g. no broker yet)."""
        while True:
            try:
                await self.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Re-reading from the start is safe: the store keeps the newest ranking.
                log.exception("topic feed failed; starting over in %.0fs", retry_s)
                await asyncio.sleep(retry_s)

    async def run(self) -> None:
        """Consume until cancelled."""
        consumer = whole_topic_consumer(
            self._bootstrap,
            self._topics.rankings,
            self._topics.trending,
            self._topics.item_vectors,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            await consumer.seek_to_beginning(*partitions)
            end_offsets = await consumer.end_offsets(partitions)
            started = time.monotonic()
            while True:
                await self._check_caught_up(consumer, end_offsets, started)
                batches = await consumer.getmany(timeout_ms=200, max_records=FETCH_RECORDS)
                for records in batches.values():
                    self.apply(records)
                await self._update_lag(consumer, partitions)
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        wanted = {self._topics.rankings, self._topics.trending, self._topics.item_vectors}
        deadline = time.monotonic() + ASSIGNMENT_WAIT_S
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
        if self._state.ready.is_set():
            return
        for topic in self._awaited:
            if self._state.caught_up[topic]:
                continue
            # Positions, not record offsets: compaction may have removed the last records.
            behind = [
                tp for tp, end in end_offsets.items()
                if tp.topic == topic and await consumer.position(tp) < end
            ]
            self._state.caught_up[topic] = not behind
        if all(self._state.caught_up.values()):
            self._state.ready.set()
            self._state.metrics.ready.set(1)
            log.info(
                "homepage service caught up in %.1fs: %d users ranked, %d catalog items",
                time.monotonic() - started, len(self._state.store), len(self._state.catalog),
            )

    async def _update_lag(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> None:
        lag: dict[str, int] = {}
        for tp in partitions:
            highwater = consumer.highwater(tp)  # known from the last fetch response
            if highwater is None:
                continue
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, highwater - await consumer.position(tp))
        for topic, behind in lag.items():
            self._state.metrics.consumer_lag.labels(topic).set(behind)
