"""An experiment in the ranking service: each user ranked by their variant, records say which."""

import asyncio

import numpy as np

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from ranker.experiments import Experiment, Variant
from ranker.pipeline.stage_list import build_pipeline
from ranker.pipeline.variants import VariantPipelines
from ranker.service import RankingService
from ranker.trending import TrendingCounter
from streams.outputs import ranking_message, served_message
from streams.wire import ItemVector, Ranking, decode_served, encode_served_batch
from tests.factories import DictStore, make_event

DIM = 8
HOT = [f"hot-{n}" for n in range(5)]


def experiment_service() -> tuple[RankingService, Experiment]:
    rng = np.random.default_rng(3)
    replica = IndexReplica(ItemIndex(DIM, "Flat"))
    ids = HOT + [f"item-{n}" for n in range(40)]
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    replica.apply(
        [ItemVector(i, v / np.linalg.norm(v), "test") for i, v in zip(ids, vectors, strict=True)]
    )
    trending = TrendingCounter(half_life_s=3600)
    for rank, item_id in enumerate(HOT):  # hot-0 hottest
        for _ in range(20 - 3 * rank):
            trending.add(item_id, "click", 1_700_000_000_000)
    experiment = Experiment(
        "test", (Variant("personal", "dot-product", 1), Variant("popular", "trending", 1))
    )

    def pipeline(trending_only: bool):  # type: ignore[no-untyped-def]
        return build_pipeline(
            replica,
            trending,
            homepage_size=4,
            candidates_per_user=20,
            exploration_share=0.0,
            trending_only=trending_only,
        )

    variants = VariantPipelines(
        experiment, {"personal": pipeline(False), "popular": pipeline(True)}
    )
    return RankingService(replica, trending, variants, 50, 200, 10.0), experiment


def test_each_user_is_ranked_by_their_variant_and_the_records_say_so() -> None:
    service, experiment = experiment_service()
    events = [make_event(f"u{n}", f"item-{n % 40}", event_id=f"e{n}") for n in range(200)]
    outcome = asyncio.run(service.process(events, DictStore()))
    assert len(outcome.homepages) == 200
    by_variant: dict[str, int] = {}
    for homepage in outcome.homepages:
        wanted = experiment.variant_of(homepage.user_id).name
        assert homepage.variant == wanted
        by_variant[wanted] = by_variant.get(wanted, 0) + 1
        shown = [item.item_id for item in homepage.items]
        if wanted == "popular":
            # The trending list in its order (no diversity clash: no categories).
            assert shown == HOT[:4]
            assert homepage.model_version == "trending"
        else:
            assert homepage.model_version.startswith("dot@")
            assert shown != HOT[:4]
    assert min(by_variant.values()) > 70  # both arms ran on a 50/50 split
    # The rankings and the served log carry the variant to their readers.
    homepage = outcome.homepages[0]
    assert Ranking.decode(ranking_message(homepage).encode()).variant == homepage.variant
    served = decode_served(encode_served_batch([served_message(h) for h in outcome.homepages]))
    assert [entry.variant for entry in served] == [h.variant for h in outcome.homepages]


def test_without_an_experiment_records_carry_no_variant() -> None:
    replica = IndexReplica(ItemIndex(DIM, "Flat"))
    replica.apply([ItemVector("a", np.eye(DIM, dtype=np.float32)[0], "test")])
    trending = TrendingCounter(half_life_s=3600)
    service = RankingService(
        replica,
        trending,
        build_pipeline(replica, trending, homepage_size=3, candidates_per_user=5),
        50,
        200,
        10.0,
    )
    outcome = asyncio.run(service.process([make_event("u", "a")], DictStore()))
    (homepage,) = outcome.homepages
    assert Ranking.decode(ranking_message(homepage).encode()).variant is None
    (served,) = decode_served(encode_served_batch([served_message(homepage)]))
    assert served.variant is None
