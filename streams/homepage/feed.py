"""Follows the rankings, trending and item-vectors topics into the service's memory.

One :class:`streams.follow.CompactedTopicFollower` (the loop a ranking worker
runs for its replica) reads every partition of the three topics from the
beginning (all are compacted, so that is the latest state per key). The
service is ready once it has read up to the end offsets the topics had when it
started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.follow import CompactedTopicFollower, Record
from streams.homepage.catalog import Catalog
from streams.homepage.dashboard import FreshnessBoard, OnlineBoard
from streams.homepage.metrics import HomepageMetrics
from streams.homepage.similar import SimilarService
from streams.homepage.store import RankingStore, TrendingBoard
from streams.kafka_connection import KafkaConnection
from streams.topics import TopicNames
from streams.wire import InvalidMessage, ItemVector, OnlineWindow, Ranking, TrendingList, now_ms

log = logging.getLogger(__name__)


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
    similar: SimilarService = field(default_factory=SimilarService)
    # For the dashboard: online figures, freshness per minute, this service's lag.
    online: OnlineBoard = field(default_factory=OnlineBoard)
    freshness: FreshnessBoard = field(default_factory=FreshnessBoard)
    lag: dict[str, int] = field(default_factory=dict)


class HomepageFeed:
    """Applies records of the three topics to a :class:`HomepageState`."""

    def __init__(self, kafka: KafkaConnection, topics: TopicNames, state: HomepageState) -> None:
        self._topics = topics
        self._state = state
        # Readiness waits for rankings (what is served) and item-vectors (the
        # titles on the cards); trending is refreshed every few seconds anyway.
        self._follower = CompactedTopicFollower(
            kafka,
            [topics.rankings, topics.trending, topics.item_vectors],
            self.apply,
            awaited=[topics.rankings, topics.item_vectors],
            ready=state.ready,
            caught_up=state.caught_up,
            on_ready=self._caught_up,
            after_fetch=self._update_lag,
        )

    def apply(self, records: Iterable[Record]) -> None:
        """Route each record to the store, the trending board or the catalog."""
        live = self._state.ready.is_set()
        # Item vectors go to the similar-items index in one batch (kept in order:
        # the batch is flushed before a deletion).
        vectors: list[ItemVector] = []
        for record in records:
            try:
                if record.topic == self._topics.rankings:
                    self._apply_ranking(record, live)
                elif record.topic == self._topics.item_vectors:
                    vector = self._apply_item(record)
                    if vector is not None:
                        vectors.append(vector)
                    elif record.key is not None:
                        self._state.similar.apply(vectors)
                        vectors = []
                        self._state.similar.remove([record.key.decode(errors="replace")])
                elif record.topic == self._topics.trending:
                    self._apply_trending(record)
            except InvalidMessage as error:
                self._state.metrics.invalid_messages.labels(record.topic).inc()
                log.warning(
                    "ignoring invalid message on %s at offset %d: %s",
                    record.topic,
                    record.offset,
                    error,
                )
        self._state.similar.apply(vectors)
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
            delivery = max(0, now - ranking.generated_at) / 1000
            metrics.delivery.observe(delivery)
            freshness = None
            if ranking.source_event_ts is not None:
                freshness = max(0, now - ranking.source_event_ts) / 1000
                metrics.freshness.observe(freshness)
            self._state.freshness.observe(now, freshness, delivery)

    def _apply_item(self, record: Record) -> ItemVector | None:
        """Update the catalog; returns the vector (None for a deletion)."""
        if record.value is None:
            if record.key is not None:
                self._state.catalog.remove(record.key.decode(errors="replace"))
            return None
        vector = ItemVector.decode(record.value)
        self._state.catalog.put(vector.item_id, vector.title, vector.category)
        return vector

    def _apply_trending(self, record: Record) -> None:
        worker = record.key or b""
        trending = None if record.value is None else TrendingList.decode(record.value)
        self._state.trending.put(worker, trending)

    async def run_forever(self) -> None:
        """Consume until cancelled, starting over after a failure (e.g. no broker yet)."""
        await self._follower.run_forever()

    def _caught_up(self, seconds: float) -> None:
        self._state.metrics.ready.set(1)
        log.info(
            "homepage service caught up in %.1fs: %d users ranked, %d catalog items",
            seconds,
            len(self._state.store),
            len(self._state.catalog),
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
        self._state.lag.update(lag)


class OnlineMetricsFeed:
    """Follows the compacted online-metrics topic into the dashboard's board.

    A follower of its own: a deployment whose topic job has not created the
    topic yet still serves homepages (this one retries until it exists).
    """

    def __init__(self, kafka: KafkaConnection, topic: str, state: HomepageState) -> None:
        self._state = state
        self._follower = CompactedTopicFollower(kafka, [topic], self.apply, caught_up={})

    def apply(self, records: Iterable[Record]) -> None:
        """Keep the latest figures of every key."""
        for record in records:
            try:
                window = None if record.value is None else OnlineWindow.decode(record.value)
            except InvalidMessage as error:
                self._state.metrics.invalid_messages.labels(record.topic).inc()
                log.warning("ignoring an invalid online-metrics record: %s", error)
                continue
            self._state.online.put(bytes(record.key or b""), window)

    async def run_forever(self) -> None:
        """Consume until cancelled, starting over after a failure."""
        await self._follower.run_forever()
