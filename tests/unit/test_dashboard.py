"""The dashboard's figures: online windows per variant and over time, freshness per minute."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ranker.online.coverage import coverage_add
from streams.homepage.app import build_app, new_state
from streams.homepage.dashboard import FreshnessBoard, OnlineBoard
from streams.settings import Settings
from streams.wire import OnlineWindow, TrendingList, now_ms
from tests.unit.test_homepage_app import MemoryEventSink

MINUTE = 60_000


def window(
    partition: int, start: int, variant: str, judged: int, clicked: int, model: str = "m1"
) -> OnlineWindow:
    return OnlineWindow(
        partition,
        start,
        60,
        variant,
        model,
        served=judged + 1,
        judged=judged,
        clicked=clicked,
        ndcg_sum=clicked * 0.5,
        click_positions=[clicked],
        slots_shown={"personal": 10 * (judged + 1)},
        slots_clicked={"personal": clicked},
        coverage=coverage_add(b"", [f"{variant}-{partition}-{n}" for n in range(10)]),
        catalog_size=100,
    )


def test_the_board_sums_partitions_per_variant_and_keeps_the_latest_record() -> None:
    board = OnlineBoard()
    now = 1_800_000_000_000
    start = now - now % MINUTE
    board.put(b"0/a", window(0, start, "model", 50, 10))
    board.put(b"0/a", window(0, start, "model", 100, 30))  # the newer record of the same key
    board.put(b"1/a", window(1, start, "model", 100, 20))
    board.put(b"0/b", window(0, start - MINUTE, "dot", 100, 5))
    board.put(b"0/old", window(0, start - 2 * 24 * 3600_000, "dot", 100, 100))
    board.prune(now)
    figures = board.by_variant()
    assert (figures["model"].judged, figures["model"].clicked) == (200, 50)
    assert (figures["dot"].judged, figures["dot"].clicked) == (100, 5)
    assert round(figures["model"].items_shown) == 20
    series = board.series()
    assert [p["window_start"] for p in series["dot"]] == [start - MINUTE]
    assert series["model"][0]["ctr"] == 0.25
    low, high = series["model"][0]["ctr_95"]
    assert low < 0.25 < high
    assert board.by_variant(since_ms=start).keys() == {"model"}


def test_freshness_is_summarised_per_minute_and_forgets_old_minutes() -> None:
    board = FreshnessBoard(minutes=2)
    t = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE
    for n in range(100):
        board.observe(t + n, freshness_s=n / 100, delivery_s=0.01)
    board.observe(t + MINUTE, None, 0.5)
    minutes = board.per_minute()
    assert minutes[0]["freshness_p50"] == 0.49 and minutes[0]["freshness_p99"] == 0.98
    assert minutes[1]["freshness_p50"] is None and minutes[1]["delivery_p50"] == 0.5
    board.observe(t + 3 * MINUTE, 1.0, 1.0)
    assert [m["minute_start"] for m in board.per_minute()] == [t + 3 * MINUTE]


def test_dashboard_json_and_prometheus_show_each_variant() -> None:
    settings = Settings()
    state = new_state(settings)
    start = now_ms() - now_ms() % MINUTE
    state.online.put(b"0", window(0, start, "model", 400, 100))
    state.online.put(b"1", window(1, start, "dot", 400, 40))
    state.catalog.put("n1", "Storm hits coast", "news")
    state.trending.put(b"w", TrendingList([("n1", 3.0)], generated_at=now_ms()))
    state.lag["rankings"] = 7
    client = TestClient(
        build_app(settings, state=state, sink=MemoryEventSink(), follow_topics=False)
    )
    view = client.get("/v1/dashboard").json()
    assert view["variants"]["model"]["ctr"] == 0.25 and view["variants"]["dot"]["ctr"] == 0.1
    assert view["top_items"] == [{"item_id": "n1", "title": "Storm hits coast", "score": 3.0}]
    assert view["lag"] == {"rankings": 7}
    assert '<svg id="ctr-chart"' in client.get("/dashboard").text
    metrics = client.get("/metrics").text
    assert 'homefeed_online_ctr{variant="model"} 0.25' in metrics
    assert 'homefeed_online_homepages_judged{variant="dot"} 400.0' in metrics
