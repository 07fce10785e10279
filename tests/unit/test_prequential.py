from ranker.eval.prequential import score_stream
from streams.wire import Event, RankedItem, Ranking


def ev(event_id: str, user: str, item: str, ts: int, kind: str = "click") -> Event:
    return Event(event_id, user, kind, ts, item)  # type: ignore[arg-type]


def ranking(user: str, source: str, items: list[str]) -> Ranking:
    return Ranking(user, [RankedItem(i, 1.0, "") for i in items], "m1", 0, source, 0)


def test_each_click_is_judged_by_the_homepage_before_it() -> None:
    events = [
        ev("a1", "a", "x", 1),  # cold start: judged against trending (empty) -> miss
        ev("b1", "b", "x", 2),  # cold start: trending now has x -> hit for both
        ev("a2", "a", "y", 3),  # a's homepage after a1 shows y -> pipeline hit
        ev("a3", "a", "z", 4),  # homepage after a2 lacks z -> miss
        ev("a4", "a", "w", 5, kind="view"),  # not a positive
    ]
    rankings = [
        ranking("a", "a1", ["y", "q"]),
        ranking("a", "a2", ["q"]),
        ranking("b", "b1", ["y"]),
    ]
    result = score_stream(events, rankings, trending_half_life_s=3600)
    assert (result.positives, result.cold_start_positives) == (4, 2)
    assert result.pipeline_hits == 2  # b1 (via trending) and a2
    assert result.trending_hits == 1  # only b1: x was the hottest item then
    assert result.model_versions == ("m1",)


def test_a_coalesced_ranking_counts_from_its_own_source_event() -> None:
    events = [ev("a1", "a", "x", 1), ev("a2", "a", "y", 2), ev("a3", "a", "z", 3)]
    # The worker ranked only after a2 (a1 was coalesced): a2 itself sees trending.
    rankings = [ranking("a", "a2", ["z"])]
    result = score_stream(events, rankings, trending_half_life_s=3600)
    assert result.pipeline_hits == 1 and result.cold_start_positives == 2


def test_only_clicks_after_the_cut_are_scored() -> None:
    events = [ev("a1", "a", "x", 1_000), ev("a2", "a", "y", 2_000), ev("a3", "a", "z", 3_000)]
    rankings = [ranking("a", "a1", ["y"]), ranking("a", "a2", ["q"])]
    result = score_stream(events, rankings, trending_half_life_s=3600, score_from_ms=2_000)
    assert (result.positives, result.pipeline_hits) == (2, 1)


def test_clicks_count_for_the_variant_whose_homepage_the_user_had() -> None:
    def variant_ranking(user: str, source: str, items: list[str], variant: str) -> Ranking:
        return Ranking(
            user, [RankedItem(i, 1.0, "") for i in items], "m", 0, source, 0, variant=variant
        )

    events = [
        ev("a1", "a", "x", 1),
        ev("a2", "a", "y", 2),  # a's homepage (variant model) shows y: hit for model
        ev("b1", "b", "x", 3),
        ev("b2", "b", "y", 4),  # b's homepage (variant dot) lacks y: miss for dot
        ev("b3", "b", "q", 5),  # b's newer homepage shows q: hit for dot
    ]
    rankings = [
        variant_ranking("a", "a1", ["y"], "model"),
        variant_ranking("b", "b1", ["z"], "dot"),
        variant_ranking("b", "b2", ["q"], "dot"),
    ]
    result = score_stream(events, rankings, trending_half_life_s=3600)
    # Cold clicks (a1, b1: no homepage yet) count for no variant.
    assert result.variants == {"model": (1, 1), "dot": (2, 1)}
    assert result.to_dict()["variants"] == {
        "dot": {"positives": 2, "hits": 1},
        "model": {"positives": 1, "hits": 1},
    }
