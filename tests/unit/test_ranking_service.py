"""The ranking service on a real FAISS index with hand-made topic vectors."""

import asyncio

import numpy as np
import pytest

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from ranker.pipeline.side_effects import FilterStatsSideEffect
from ranker.pipeline.stage_list import build_pipeline
from ranker.service import BatchOutcome, RankingService
from ranker.state import UserState
from ranker.trending import TrendingCounter
from streams.wire import Event, ItemVector
from tests.factories import DictStore, make_event

DIM = 8
TOPICS = ("sports", "food", "autos")


def process(service: RankingService, events: list[Event], store: DictStore) -> BatchOutcome:
    return asyncio.run(service.process(events, store))


@pytest.fixture
def service() -> RankingService:
    rng = np.random.default_rng(7)
    replica = IndexReplica(ItemIndex(DIM, "Flat"))
    vectors = []
    for topic_index, topic in enumerate(TOPICS):
        centre = np.zeros(DIM, dtype=np.float32)
        centre[topic_index] = 1.0
        for n in range(10):
            vector = centre + 0.2 * rng.standard_normal(DIM).astype(np.float32)
            vectors.append(
                ItemVector(
                    f"{topic}-{n}",
                    vector / np.linalg.norm(vector),
                    "test",
                    title=f"{topic} story {n}",
                    category=topic,
                )
            )
    replica.apply(vectors)
    trending = TrendingCounter(half_life_s=3600)
    return RankingService(
        replica=replica,
        trending=trending,
        pipeline=build_pipeline(replica, trending, homepage_size=5, candidates_per_user=20),
        history_size=50,
        seen_size=200,
        recency_half_life=10.0,
    )


def test_sports_clicker_gets_sports_and_never_what_they_clicked(service: RankingService) -> None:
    store = DictStore()
    clicks = [make_event("u1", f"sports-{n}", ts=n) for n in range(3)]
    outcome = process(service, clicks, store)
    (ranking,) = outcome.homepages
    ids = [item.item_id for item in ranking.items]
    assert all(item.startswith("sports-") for item in ids)
    assert not {"sports-0", "sports-1", "sports-2"} & set(ids)
    assert ranking.source is not None and ranking.source.event_id == clicks[-1].event_id
    assert ranking.items[0].reason.startswith("because you liked sports story")
    assert UserState.decode(store.get("u1")).processed == 3


def test_interest_follows_the_latest_clicks(service: RankingService) -> None:
    store = DictStore()
    process(service, [make_event("u1", f"sports-{n}", ts=n) for n in range(2)], store)
    outcome = process(service, [make_event("u1", f"food-{n}", ts=10 + n) for n in range(4)], store)
    top = [item.item_id for item in outcome.homepages[0].items[:3]]
    assert all(item.startswith("food-") for item in top)


def test_redelivered_events_are_not_counted_twice(service: RankingService) -> None:
    store = DictStore()
    event = make_event("u1", "autos-1")
    process(service, [event], store)
    outcome = process(service, [event], store)
    assert outcome.duplicates == 1 and outcome.homepages == []
    assert UserState.decode(store.get("u1")).processed == 1


def test_newcomer_gets_trending(service: RankingService) -> None:
    store = DictStore()
    for n in range(5):
        process(service, [make_event(f"fan{n}", "food-3", ts=n)], store)
    outcome = process(service, [make_event("new", None, kind="impression", ts=9)], store)
    first = outcome.homepages[0].items[0]
    assert (first.item_id, first.reason) == ("food-3", "trending")


def test_forget_removes_state(service: RankingService) -> None:
    store = DictStore()
    process(service, [make_event("u1", "food-1")], store)
    outcome = process(service, [make_event("u1", None, kind="forget")], store)
    assert outcome.forgotten == ["u1"] and store.get("u1") is None


def test_search_text_steers_the_homepage(service: RankingService) -> None:
    store = DictStore()
    autos = np.zeros(DIM, dtype=np.float32)
    autos[2] = 1.0
    service.encode_text = lambda texts: np.stack([autos for _ in texts])
    outcome = process(service, [make_event("u1", None, kind="search", text="cars")], store)
    assert outcome.homepages[0].items[0].item_id.startswith("autos-")


def test_what_filters_removed_is_counted(service: RankingService) -> None:
    store = DictStore()
    clicks = [make_event("u1", f"sports-{n}", ts=n) for n in range(3)]
    outcome = process(service, clicks, store)
    # Trending offers the clicked stories back; the seen filter takes them out.
    (homepage,) = outcome.homepages
    assert set(homepage.removed["seen"]) == {"sports-0", "sports-1", "sports-2"}
    (counter,) = [e for e in service.pipeline.side_effects if isinstance(e, FilterStatsSideEffect)]
    assert counter.removed["seen"] == 3


def test_the_homepage_names_the_scorer_that_ranked_it(service: RankingService) -> None:
    outcome = process(service, [make_event("u1", "food-1")], DictStore())
    assert outcome.homepages[0].model_version == "dot@test"


class CountingStore(DictStore):
    """Counts reads and writes: what a batch costs the Faust table."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = self.writes = 0

    def get(self, user_id: str) -> bytes | None:
        self.reads += 1
        return super().get(user_id)

    def put(self, user_id: str, state: bytes) -> None:
        self.writes += 1
        super().put(user_id, state)


def test_a_users_burst_costs_one_state_read_and_one_write(service: RankingService) -> None:
    store = CountingStore()
    burst = [make_event("u1", f"sports-{n}") for n in range(5)]
    outcome = process(service, [*burst, make_event("u2", "food-1"), burst[0]], store)
    assert (store.reads, store.writes) == (2, 2)  # one each per user, not per event
    assert (outcome.applied, outcome.duplicates) == (6, 1)
    state = UserState.decode(store.data["u1"])
    assert [i.item_id for i in state.history] == [f"sports-{n}" for n in range(5)]
    assert len(outcome.homepages) == 2  # each user ranked once, for their newest event
    newest = {h.user_id: h.source.event_id for h in outcome.homepages if h.source}
    assert newest["u1"] == burst[-1].event_id


def test_events_after_a_forget_in_the_same_run_start_a_fresh_state(
    service: RankingService,
) -> None:
    store = CountingStore()
    before = make_event("u1", "sports-1")
    forget = make_event("u1", None, kind="forget")
    after = make_event("u1", "food-2")
    outcome = process(service, [before, forget, after], store)
    assert outcome.forgotten == ["u1"]
    state = UserState.decode(store.data["u1"])
    assert [i.item_id for i in state.history] == ["food-2"]
    assert state.processed == 1
