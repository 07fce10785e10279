"""End-to-end benchmark helpers: which backlog event a ranking or a forwarded record answers."""

from bench.e2e import ranking_points
from bench.live import OutputRecord, synthetic_events
from bench.passthrough import forwarded_points
from streams.wire import RankedItem, Ranking


def test_rankings_and_forwarded_events_map_to_backlog_sequence_numbers() -> None:
    events = synthetic_events(5, users=3, items=1000, seed=1, prefix="b")
    ranking = Ranking("user-1", [RankedItem("item-1", 0.5, "for you")], "dot@x", 1, "b-3", 1)
    probe = Ranking("user-2", [], "dot@x", 1, "probe-1", 1)
    records = [
        OutputRecord(b"user-1", ranking.encode(), 1_000, 0),
        OutputRecord(b"user-2", probe.encode(), 1_001, 0),
        OutputRecord(b"user-3", None, 1_002, 0),
    ]
    assert ranking_points(records, "b") == [(1_000, 3)]
    forwarded = [
        OutputRecord(e.user_id.encode(), e.encode(), 2_000 + n, 0) for n, e in enumerate(events)
    ]
    assert forwarded_points(forwarded, "b") == [(2_000 + n, n) for n in range(5)]


def test_synthetic_events_are_reproducible_and_only_clicks_and_views() -> None:
    first = synthetic_events(200, users=50, items=5000, seed=3, prefix="b")
    again = synthetic_events(200, users=50, items=5000, seed=3, prefix="b")
    assert [(e.user_id, e.item_id, e.type) for e in first] == [
        (e.user_id, e.item_id, e.type) for e in again
    ]
    assert {e.type for e in first} <= {"click", "view"}
    assert all(int((e.item_id or "").removeprefix("item-")) < 5000 for e in first)
