from __future__ import annotations

import asyncio

import msgpack
import pytest

from streams.homepage.store import RankingStore, TrendingBoard
from streams.wire import InvalidMessage, RankedItem, Ranking, TrendingList


def ranking(user_id: str, items: list[str], generated_at: int = 1_000) -> Ranking:
    return Ranking(
        user_id,
        [RankedItem(i, 1.0 / (n + 1), "for you") for n, i in enumerate(items)],
        "dot@test",
        generated_at,
        f"e-{user_id}-{generated_at}",
        generated_at - 5,
    )


def test_store_keeps_latest_ranking_and_ignores_a_late_older_one() -> None:
    store = RankingStore(max_users=10)
    store.put(ranking("ann", ["a", "b"], generated_at=2_000))
    store.put(ranking("ann", ["z"], generated_at=1_000))  # arrived late, older
    assert shown(store, "ann") == ["a", "b"]
    store.put(ranking("ann", ["c"], generated_at=3_000))
    assert shown(store, "ann") == ["c"]


def shown(store: RankingStore, user_id: str) -> list[str]:
    current = store.get(user_id)
    assert current is not None, f"no ranking for {user_id}"
    return [item.item_id for item in current.items]


def test_store_is_bounded_and_drops_the_least_recently_updated_user() -> None:
    store = RankingStore(max_users=3)
    for user in ["u1", "u2", "u3"]:
        store.put(ranking(user, ["a"]))
    store.put(ranking("u1", ["b"], generated_at=2_000))  # u1 is fresh again
    store.put(ranking("u4", ["a"]))
    assert len(store) == 3
    assert "u2" not in store and all(u in store for u in ["u1", "u3", "u4"])
    assert store.evicted == 1
    assert store.recent_users(2) == ["u4", "u1"]


def test_tombstone_forgets_the_user_and_tells_live_subscribers() -> None:
    async def scenario() -> list[Ranking | None]:
        store = RankingStore(max_users=10)
        store.put(ranking("ann", ["a"]))
        with store.subscribe("ann") as updates:
            assert store.subscriber_count == 1
            store.put(ranking("ann", ["b"], generated_at=2_000))
            first = await updates.get()
            assert store.forget("ann")
            second = await updates.get()
        assert store.subscriber_count == 0
        return [first, second]

    first, second = asyncio.run(scenario())
    assert first is not None and first.items[0].item_id == "b"
    assert second is None


def test_slow_subscriber_gets_only_the_newest_update() -> None:
    async def scenario() -> Ranking | None:
        store = RankingStore(max_users=10)
        with store.subscribe("ann") as updates:
            for t in range(1, 6):
                store.put(ranking("ann", [f"item-{t}"], generated_at=t * 1_000))
            assert updates.qsize() == 1
            return await updates.get()

    latest = asyncio.run(scenario())
    assert latest is not None and latest.items[0].item_id == "item-5"


def trending(items: list[tuple[str, float]], generated_at: int) -> bytes:
    return msgpack.packb(
        {
            "schema": 1,
            "generated_at": generated_at,
            "items": [{"item_id": i, "score": s} for i, s in items],
        }
    )


def test_trending_lists_of_workers_are_summed_and_stale_workers_ignored() -> None:
    board = TrendingBoard(stale_ms=60_000)
    board.put(b"w1", TrendingList.decode(trending([("a", 3.0), ("b", 2.0)], 100_000)))
    board.put(b"w2", TrendingList.decode(trending([("b", 2.5), ("c", 1.0)], 100_500)))
    assert board.top(2) == [("b", 4.5), ("a", 3.0)]
    # w1 stops publishing; w2 goes on: after a minute w1's list no longer counts.
    board.put(b"w2", TrendingList.decode(trending([("c", 5.0)], 200_000)))
    assert board.top(10) == [("c", 5.0)]
    board.put(b"w2", None)
    assert board.top(10) == [("a", 3.0), ("b", 2.0)]


@pytest.mark.parametrize(
    "raw",
    [
        b"\xc1",
        msgpack.packb([1, 2]),
        msgpack.packb({"items": []}),
        msgpack.packb({"generated_at": 1, "items": [{"item_id": "a"}]}),
    ],
)
def test_malformed_trending_messages_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidMessage):
        TrendingList.decode(raw)
