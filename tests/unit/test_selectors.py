import numpy as np

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from ranker.pipeline.candidates import Candidates
from ranker.pipeline.filters import DuplicateCandidatesFilter, RemovedItemsFilter, SeenItemsFilter
from ranker.pipeline.selectors import (
    EXPLORE_REASON,
    DiversitySelector,
    ExplorationSelector,
    ReasonSelector,
)
from ranker.pipeline.stages import RankingQuery
from streams.wire import ItemVector


def candidates(scores: dict[str, float], replica: IndexReplica | None = None) -> Candidates:
    """ANN candidates with these scores (rows from ``replica``, else unknown)."""
    ids = list(scores)
    rows = replica.index.rows(ids) if replica else np.full(len(ids), -1, dtype=np.int64)
    result = Candidates.of(ids, rows, "ann", np.zeros(len(ids), dtype=np.float32))
    result.scores = np.array(list(scores.values()), dtype=np.float32)
    return result


def replica_with(categories: dict[str, str]) -> IndexReplica:
    replica = IndexReplica(ItemIndex(2, "Flat"))
    replica.apply(
        [
            ItemVector(item, np.array([1.0, 0.0], dtype=np.float32), "v", category=cat)
            for item, cat in categories.items()
        ]
    )
    return replica


def query() -> RankingQuery:
    return RankingQuery("u1", None, [], set())


def test_no_category_takes_more_than_its_share_of_the_top_window() -> None:
    categories = {f"s{n}": "sports" for n in range(8)} | {f"f{n}": "food" for n in range(4)}
    scores = {f"s{n}": 1.0 - n / 100 for n in range(8)} | {f"f{n}": 0.5 - n / 100 for n in range(4)}
    ordered = DiversitySelector(replica_with(categories), window=5, max_per_category=3).select(
        query(), candidates(scores)
    )
    ids = ordered.item_ids.tolist()
    assert ids[:5] == ["s0", "s1", "s2", "f0", "f1"]
    # Capped items come right after the window, ahead of lower-scored others.
    assert ids[5:8] == ["s3", "s4", "s5"]
    assert len(ordered) == 12
    assert ordered.scores.tolist() == [np.float32(scores[i]) for i in ids]


def test_multi_genre_labels_count_by_their_first_genre() -> None:
    categories = {"a": "Comedy, Drama", "b": "Comedy", "c": "Drama"}
    ordered = DiversitySelector(replica_with(categories), window=2, max_per_category=1).select(
        query(), candidates({"a": 3.0, "b": 2.0, "c": 1.0})
    )
    assert ordered.item_ids.tolist()[:2] == ["a", "c"]


def test_exploration_swaps_a_share_of_slots_reproducibly() -> None:
    def run() -> list[str]:
        ranked = candidates({f"i{n}": -n for n in range(40)})
        return ExplorationSelector(20, 0.1).select(query(), ranked).item_ids.tolist()

    first, second = run(), run()
    assert first == second and len(first) == 20
    explored = [item for item in first if int(item[1:]) >= 20]
    assert len(explored) == 2
    assert first[:3] == ["i0", "i1", "i2"]  # the top slots are never given away


def test_exploration_labels_its_picks_and_needs_a_pool() -> None:
    picked = ExplorationSelector(20, 0.1).select(
        query(), candidates({f"i{n}": 0.0 for n in range(30)})
    )
    assert picked.explored is not None and int(picked.explored.sum()) == 2
    assert (
        sum(
            c.reason == EXPLORE_REASON
            for c in ReasonSelector(replica_with({})).select(query(), picked).shown()
        )
        == 2
    )
    short = candidates({f"i{n}": 0.0 for n in range(20)})
    assert ExplorationSelector(20, 0.1).select(query(), short) is short


def test_filters_are_masks_that_keep_order_and_report_nothing_twice() -> None:
    replica = replica_with({f"i{n}": "news" for n in range(6)})
    pooled = Candidates.concat(
        [
            candidates({"i0": 0.9, "i1": 0.8, "i2": 0.7}, replica),
            candidates({"i2": 0.5, "i3": 0.4, "i4": 0.3}, replica),
        ]
    )
    user = RankingQuery("u1", None, [], {"i1"})
    keep = DuplicateCandidatesFilter().keep(user, pooled)
    assert pooled.item_ids[keep].tolist() == ["i0", "i1", "i2", "i3", "i4"]
    assert SeenItemsFilter().keep(user, pooled).tolist() == [True, False, True, True, True, True]
    replica.remove(["i3"])
    assert RemovedItemsFilter(replica).keep(user, pooled).tolist() == [True] * 4 + [False, True]
