"""The feed's routing of topic records into the service's state (no broker)."""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
import numpy as np

from streams.homepage.feed import HomepageFeed, HomepageState
from streams.homepage.store import RankingStore
from streams.kafka_connection import KafkaConnection
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import ItemVector, RankedItem, Ranking, now_ms

TOPICS = TopicNames.from_settings(Settings(topic_prefix="t."))


@dataclass
class FakeRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    offset: int = 0


def feed_and_state() -> tuple[HomepageFeed, HomepageState]:
    state = HomepageState(store=RankingStore(max_users=100))
    return HomepageFeed(KafkaConnection("unused:9092"), TOPICS, state), state


def ranking_record(user_id: str, generated_at: int, source_ts: int | None) -> FakeRecord:
    ranking = Ranking(
        user_id, [RankedItem("i1", 0.5, "for you")], "dot@x", generated_at, "e1", source_ts
    )
    return FakeRecord(TOPICS.rankings, user_id.encode(), ranking.encode())


def test_rankings_vectors_and_trending_land_where_the_page_reads_them() -> None:
    feed, state = feed_and_state()
    vector = ItemVector("i1", np.ones(4, dtype=np.float32), "enc", "A headline", "news")
    feed.apply(
        [
            FakeRecord(TOPICS.item_vectors, b"i1", vector.encode()),
            ranking_record("ann", 1_000, 900),
            FakeRecord(
                TOPICS.trending,
                b"w1",
                msgpack.packb(
                    {"schema": 1, "generated_at": 5, "items": [{"item_id": "i1", "score": 2.0}]}
                ),
            ),
        ]
    )
    assert state.catalog.title("i1") == "A headline"
    assert state.store.get("ann") is not None
    assert state.trending.top(5) == [("i1", 2.0)]


def test_tombstones_forget_users_and_delete_items() -> None:
    feed, state = feed_and_state()
    vector = ItemVector("i1", np.ones(4, dtype=np.float32), "enc", "A headline", "news")
    feed.apply(
        [FakeRecord(TOPICS.item_vectors, b"i1", vector.encode()), ranking_record("ann", 1_000, 900)]
    )
    feed.apply(
        [FakeRecord(TOPICS.rankings, b"ann", None), FakeRecord(TOPICS.item_vectors, b"i1", None)]
    )
    assert "ann" not in state.store
    assert "i1" not in state.catalog
    assert state.metrics.rankings_forgotten._value.get() == 1


def test_invalid_messages_are_counted_and_skipped() -> None:
    feed, state = feed_and_state()
    feed.apply(
        [FakeRecord(TOPICS.rankings, b"x", b"\x93\x01\x02\x03"), ranking_record("ann", 1_000, 900)]
    )
    assert "ann" in state.store
    assert state.metrics.invalid_messages.labels(TOPICS.rankings)._value.get() == 1


def test_freshness_is_observed_only_for_live_rankings() -> None:
    feed, state = feed_and_state()
    feed.apply([ranking_record("old", 1_000, 900)])  # backlog read at start-up
    assert state.metrics.delivery._sum.get() == 0
    state.ready.set()
    now = now_ms()
    # A replayed 1990s event: event-time freshness is decades, delivery is ~0.2 s.
    feed.apply([ranking_record("live", now - 200, 820_000_000_000)])
    assert 0.15 < state.metrics.delivery._sum.get() < 5
    assert state.metrics.freshness._sum.get() > 20 * 365 * 24 * 3600
