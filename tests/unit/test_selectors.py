import numpy as np

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from ranker.selectors import EXPLORE_REASON, DiversitySelector, ExplorationSelector
from ranker.stages import Candidate, RankingQuery
from streams.wire import ItemVector


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
    candidates = [Candidate(item, "ann", 0.0, score=score) for item, score in scores.items()]
    ordered = DiversitySelector(replica_with(categories), window=5, max_per_category=3).select(
        query(), candidates
    )
    assert [c.item_id for c in ordered[:5]] == ["s0", "s1", "s2", "f0", "f1"]
    # Capped items come right after the window, ahead of lower-scored others.
    assert [c.item_id for c in ordered[5:8]] == ["s3", "s4", "s5"]
    assert len(ordered) == 12


def test_multi_genre_labels_count_by_their_first_genre() -> None:
    categories = {"a": "Comedy, Drama", "b": "Comedy", "c": "Drama"}
    candidates = [
        Candidate(i, "ann", 0.0, score=s) for i, s in (("a", 3.0), ("b", 2.0), ("c", 1.0))
    ]
    ordered = DiversitySelector(replica_with(categories), window=2, max_per_category=1).select(
        query(), candidates
    )
    assert [c.item_id for c in ordered[:2]] == ["a", "c"]


def test_exploration_swaps_a_share_of_slots_reproducibly() -> None:
    def run() -> list[str]:
        candidates = [Candidate(f"i{n}", "ann", 0.0, score=-n) for n in range(40)]
        return [c.item_id for c in ExplorationSelector(20, 0.1).select(query(), candidates)]

    first, second = run(), run()
    assert first == second and len(first) == 20
    explored = [item for item in first if int(item[1:]) >= 20]
    assert len(explored) == 2
    assert first[:3] == ["i0", "i1", "i2"]  # the top slots are never given away


def test_exploration_labels_its_picks_and_needs_a_pool() -> None:
    candidates = [Candidate(f"i{n}", "ann", 0.0) for n in range(30)]
    picked = ExplorationSelector(20, 0.1).select(query(), candidates)
    assert sum(c.reason == EXPLORE_REASON for c in picked) == 2
    short = [Candidate(f"i{n}", "ann", 0.0) for n in range(20)]
    assert ExplorationSelector(20, 0.1).select(query(), short) == short
