"""IndexFeed.apply: a batch of item-vector records lands as the compacted topic would."""

from dataclasses import dataclass

import numpy as np

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from streams.index_feed import IndexFeed
from streams.kafka_connection import KafkaConnection
from streams.wire import ItemVector


@dataclass
class FakeRecord:
    key: bytes | None
    value: bytes | None
    offset: int = 0
    topic: str = "vectors"


def upsert(item_id: str, axis: int) -> FakeRecord:
    vector = ItemVector(item_id, np.eye(4, dtype=np.float32)[axis], "v", title=f"t{axis}")
    return FakeRecord(item_id.encode(), vector.encode())


def tombstone(item_id: str) -> FakeRecord:
    return FakeRecord(item_id.encode(), None)


class CountingIndex(ItemIndex):
    """Counts the FAISS-level calls a batch costs."""

    removes = 0
    upserts = 0

    def remove(self, item_ids):  # type: ignore[no-untyped-def]
        self.removes += 1
        return super().remove(item_ids)

    def upsert(self, item_ids, vectors):  # type: ignore[no-untyped-def]
        self.upserts += 1
        return super().upsert(item_ids, vectors)


def feed_with(*item_ids: str) -> tuple[IndexFeed, IndexReplica, CountingIndex]:
    index = CountingIndex(4, "Flat")
    replica = IndexReplica(index)
    feed = IndexFeed(KafkaConnection("127.0.0.1:1"), "vectors", replica)
    feed.apply([upsert(item_id, 0) for item_id in item_ids])
    index.removes = index.upserts = 0
    return feed, replica, index


def test_the_newest_record_of_each_item_wins_within_a_batch() -> None:
    feed, replica, _ = feed_with("a", "b", "c")
    feed.apply(
        [
            tombstone("a"),
            upsert("a", 2),  # deleted then re-added: present, with the new vector
            upsert("b", 1),
            tombstone("b"),  # edited then deleted: gone
            upsert("d", 3),  # brand new
            FakeRecord(b"c", b"\x00not msgpack"),  # a bad record changes nothing
        ]
    )
    assert sorted(replica.index.item_ids()) == ["a", "c", "d"]
    assert np.allclose(replica.index.vectors(["a"])[0], np.eye(4)[2])
    assert np.allclose(replica.index.vectors(["c"])[0], np.eye(4)[0])
    assert replica.title("a") == "t2"
    assert feed.rejected == 1


def test_many_tombstones_cost_one_removal() -> None:
    """Churn used to pay one full pass over the index per deleted item."""
    feed, replica, index = feed_with(*[f"i{n}" for n in range(50)])
    feed.apply([tombstone(f"i{n}") for n in range(20)] + [upsert("new", 1)])
    assert len(replica) == 31
    assert (index.removes, index.upserts) == (1, 1)
