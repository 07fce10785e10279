"""The state agent under Faust's test_context: no broker, memory store."""

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from ranker.pending import PendingRankings
from ranker.pipeline.stage_list import build_pipeline
from ranker.service import RankingService
from ranker.state import UserState
from ranker.trending import TrendingCounter
from streams.agents import register_ranking_agents
from streams.app import create_app
from streams.dead_letter import DeadLetterPublisher
from streams.index_feed import IndexFeed
from streams.kafka_connection import KafkaConnection
from streams.outputs import RankingsTopicOutput
from streams.settings import Settings
from streams.tables import user_state_table
from streams.wire import DeadLetter, ItemVector, Ranking
from tests.factories import DictStore, make_event


class RecordingTopic:
    """Stands in for an output topic: records what the agent sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, Any]] = []

    async def send(self, key: Any = None, value: Any = None) -> None:
        self.sent.append((key, value))


def build(tmp_path: Path) -> tuple[Any, Any, RankingService, RecordingTopic, RecordingTopic, dict]:
    settings = Settings(
        store="memory://", data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1", partitions=1
    )
    app = create_app(settings)
    replica = IndexReplica(ItemIndex(4, "Flat"))
    replica.apply([ItemVector(f"i{n}", np.eye(4, dtype=np.float32)[n % 4], "v") for n in range(8)])
    trending = TrendingCounter(3600)
    rankings, dead = RecordingTopic(), RecordingTopic()
    service = RankingService(
        replica,
        trending,
        build_pipeline(
            replica,
            trending,
            homepage_size=3,
            candidates_per_user=8,
            rankings=RankingsTopicOutput(rankings),
        ),
        50,
        200,
        10.0,
    )
    table = user_state_table(app, partitions=1)
    feed = IndexFeed(KafkaConnection("127.0.0.1:1"), "vectors", replica)
    stats = register_ranking_agents(
        app,
        app.topic(
            "events", key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        ),
        table,
        service,
        feed,
        DeadLetterPublisher(dead),  # type: ignore[arg-type]
        batch_size=8,
    )  # type: ignore[arg-type]
    return app, table, service, rankings, dead, stats


def test_events_update_state_and_bad_ones_go_to_dead_letter(tmp_path: Path) -> None:
    async def scenario() -> None:
        app, table, _, _, dead, stats = build(tmp_path)
        agent = app.agents["homefeed.update-user-state"]
        async with agent.test_context() as context:
            await context.put(key=b"u1", value=make_event("u1", "i1").encode())
            await context.put(key=b"u1", value=b"\x93not-an-event")
            await context.put(key=b"u2", value=make_event("u1", "i2").encode())  # wrong key
            await context.put(key=b"u1", value=None)  # a tombstone: nothing to decode
            await context.put(key=b"u1", value=make_event("u1", "i2").encode())
        assert UserState.decode(table[b"u1"]).processed == 2
        reasons = [DeadLetter.decode(value).reason for _, value in dead.sent]
        assert reasons[0].startswith("not valid msgpack")
        assert reasons[1] == "message key does not match user_id"
        assert reasons[2] == "message has no value"
        assert DeadLetter.decode(dead.sent[0][1]).original == b"\x93not-an-event"
        assert stats["applied"] == 2

    asyncio.run(scenario())


def test_a_batch_of_one_users_events_is_applied_in_order_with_one_write(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        app, table, _, rankings, _, stats = build(tmp_path)
        agent = app.agents["homefeed.update-user-state"]
        writes: list[bytes] = []
        original = table.on_key_set

        def counted(key: bytes, value: bytes) -> None:
            writes.append(key)
            original(key, value)

        table.on_key_set = counted  # type: ignore[method-assign]
        async with agent.test_context() as context:
            # Queued before the agent runs: take_events hands them over as one batch.
            for n in range(6):
                await context.put(key=b"u1", value=make_event("u1", f"i{n}").encode())
            await context.put(key=b"u2", value=make_event("u2", "i1").encode())
            for _ in range(100):
                if stats["applied"] == 7:
                    break
                await asyncio.sleep(0.01)
        state = UserState.decode(table[b"u1"])
        assert [i.item_id for i in state.history] == [f"i{n}" for n in range(6)]
        assert stats["applied"] == 7
        # One state write (one changelog record) per user and batch, not per event.
        assert len(writes) < 7 and set(writes) == {b"u1", b"u2"}
        assert stats["state_batches"] < 7

    asyncio.run(scenario())


def test_forget_event_deletes_state_and_tombstones_the_ranking(tmp_path: Path) -> None:
    async def scenario() -> None:
        app, table, _, rankings, _, _ = build(tmp_path)
        agent = app.agents["homefeed.update-user-state"]
        async with agent.test_context() as context:
            await context.put(key=b"u1", value=make_event("u1", "i1").encode())
            await context.put(key=b"u1", value=make_event("u1", None, kind="forget").encode())
        assert table.get(b"u1") is None
        assert rankings.sent[-1] == (b"u1", None)

    asyncio.run(scenario())


def test_a_user_forgotten_while_their_batch_ranks_is_not_published(tmp_path: Path) -> None:
    async def scenario() -> None:
        _, _, service, rankings, _, _ = build(tmp_path)
        store: dict[str, bytes] = {}
        table = DictStore(store)
        pending = PendingRankings(limit=8)
        await service.receive(make_event("u1", "i1"), table, pending)
        await service.receive(make_event("u2", "i1"), table, pending)
        batch = pending.take(8)
        homepages = service.rank(batch)  # what the ranking thread computes
        # The forget arrives while the batch is in the ranking thread.
        await service.receive(make_event("u1", None, kind="forget"), table, pending)
        await service.publish(homepages, pending)
        published = [
            (key, None if value is None else Ranking.decode(value).user_id)
            for key, value in rankings.sent
        ]
        assert published == [(b"u1", None), (b"u2", "u2")]  # u1: only the tombstone
        # A new visit after the forget is ranked and published again.
        await service.receive(make_event("u1", "i2"), table, pending)
        await service.publish(service.rank(pending.take(8)), pending)
        assert Ranking.decode(rankings.sent[-1][1]).user_id == "u1"

    asyncio.run(scenario())
