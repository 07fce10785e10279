"""The online-metrics join: each homepage judged by its user's next event, in any arrival order."""

from __future__ import annotations

import random

import pytest

from ranker.online.coverage import coverage_add, coverage_estimate, coverage_merge
from ranker.online.join import SeenEvent, UserJoin, shown_from_served
from ranker.online.windows import combine
from ranker.pipeline.selectors import EXPLORE_REASON
from streams.online_metrics import OnlineMetricsJoin
from streams.wire import Event, OnlineWindow, Served, ServedItem, Shown


def shown(source: str | None, items: tuple[str, ...], at: int, variant: str = "a") -> Shown:
    kinds = ("personal",) * len(items)
    return Shown("u1", items, kinds, "v1", variant, source, at)


def click(event_id: str, item: str) -> SeenEvent:
    return SeenEvent(event_id, item, "click")


def test_a_homepage_is_judged_by_the_event_after_its_source() -> None:
    join = UserJoin()
    assert join.on_event(click("e1", "x")) == []
    fresh, outcomes = join.on_shown(shown("e1", ("a", "b", "c"), at=10))
    assert fresh and outcomes == []  # waits for the next event
    (outcome,) = join.on_event(click("e2", "c"))
    assert outcome.position == 2
    # The next homepage misses: the user then clicks something it did not show.
    join.on_shown(shown("e2", ("d", "e"), at=20))
    (miss,) = join.on_event(click("e3", "zz"))
    assert miss.position is None


def test_events_that_ran_ahead_still_judge_the_homepage_that_answers_them() -> None:
    """Replay: the next click is on the events topic before the homepage of the one before."""
    join = UserJoin()
    join.on_event(click("e1", "x"))
    join.on_event(click("e2", "b"))
    _, outcomes = join.on_shown(shown("e1", ("a", "b"), at=10))
    assert [o.position for o in outcomes] == [1]
    # A homepage whose source has not arrived yet waits for it, then for the event after.
    _, early = join.on_shown(shown("e9", ("q",), at=11))
    assert early == []
    assert join.on_event(click("e9", "q")) == []
    assert [o.position for o in join.on_event(click("e10", "q"))] == [0]


def test_redelivered_records_are_counted_once() -> None:
    join = UserJoin()
    join.on_event(click("e1", "x"))
    assert join.on_shown(shown("e1", ("a",), at=10))[0]
    assert join.on_event(click("e2", "a"))
    assert join.on_event(click("e2", "a")) == []
    assert join.on_shown(shown("e1", ("a",), at=10)) == (False, [])
    restored = UserJoin.decode(join.encode())
    assert restored == join


def test_a_non_click_event_judges_the_homepage_as_not_clicked() -> None:
    join = UserJoin()
    join.on_shown(shown(None, ("a",), at=5))
    (outcome,) = join.on_event(SeenEvent("e1", "a", "view"))
    assert outcome.position is None


def test_slot_kinds_come_from_source_and_reason() -> None:
    def item(item_id: str, position: int, source: str, reason: str) -> ServedItem:
        return ServedItem(item_id, position, 1.0, 1.0, source, reason, {})

    served = Served(
        "u1",
        [
            item("c", 2, "ann", EXPLORE_REASON),
            item("a", 0, "ann", ""),
            item("b", 1, "trending", ""),
        ],
        "v1",
        100,
        "e1",
        99,
        "model",
    )
    entry = shown_from_served(served)
    assert entry.item_ids == ("a", "b", "c")
    assert entry.slot_kinds == ("personal", "trending", "exploration")
    assert entry.variant == "model"


def test_coverage_estimates_distinct_items_within_a_few_percent() -> None:
    ids = [f"item-{i}" for i in range(20_000)]
    halves = coverage_add(b"", ids[:12_000]), coverage_add(b"", ids[8_000:])
    assert coverage_estimate(coverage_merge(halves)) == pytest.approx(20_000, rel=0.08)
    assert coverage_estimate(coverage_add(b"", ids[:50] * 3)) == pytest.approx(50, abs=2)


def test_the_join_counts_ctr_per_variant_like_the_replay_rule() -> None:
    """Simulated users: variant a's homepages contain the next click 60% of the time, b's 20%."""
    rng = random.Random(3)
    joins: dict[bytes, bytes] = {}
    windows: dict[bytes, bytes] = {}
    join = OnlineMetricsJoin(
        joins, windows, window_s=60, catalog_size=lambda: 1000, clock_ms=lambda: 10_000
    )
    truth = {"a": [0, 0], "b": [0, 0]}
    for user in range(400):
        variant = "a" if user % 2 else "b"
        key = f"user-{user}".encode()
        previous = Event(f"u{user}-e0", key.decode(), "click", ts=1, item_id="item-0")
        join.apply(key, user % 3, [previous])
        for step in range(1, 6):
            shown_items = tuple(f"item-{rng.randrange(1000)}" for _ in range(10))
            hit = rng.random() < (0.6 if variant == "a" else 0.2)
            nxt = rng.choice(shown_items) if hit else "item-unseen"
            hit = nxt in shown_items
            homepage = Shown(
                key.decode(),
                shown_items,
                ("personal",) * 10,
                "m1",
                variant,
                previous.event_id,
                1_000 * step,
            )
            previous = Event(f"u{user}-e{step}", key.decode(), "click", ts=step + 1, item_id=nxt)
            # Half the users' next events arrive before the homepage they judge.
            records: list[Event | Shown] = (
                [previous, homepage] if user % 4 < 2 else [homepage, previous]
            )
            join.apply(key, user % 3, records)
            truth[variant][0] += 1
            truth[variant][1] += hit
        for partition in range(3):
            join.store_windows(partition)
    stored = [OnlineWindow.decode(raw) for raw in windows.values()]
    for variant, (judged, clicked) in truth.items():
        figures = combine(w for w in stored if w.variant == variant)
        assert (figures.judged, figures.clicked) == (judged, clicked)
        assert figures.served == judged
        assert figures.catalog_size == 1000
        assert 0 < figures.coverage <= 1
        assert sum(figures.click_positions) == clicked
    a = combine(w for w in stored if w.variant == "a").ctr
    b = combine(w for w in stored if w.variant == "b").ctr
    assert a.interval[0] > b.interval[1]
    # Published windows carry their own interval.
    assert all(w.ctr_low <= w.ctr <= w.ctr_high for w in stored)
    assert len(join.take_changed()) == len(windows) and join.take_changed() == []


def test_old_windows_are_pruned_and_late_judgements_dropped() -> None:
    """A window past the retention leaves the table; a homepage that old no longer counts."""
    now = [1_000_000]
    windows: dict[bytes, bytes] = {}
    join = OnlineMetricsJoin({}, windows, window_s=60, retention_s=600, clock_ms=lambda: now[0])
    key = b"u"
    join.apply(key, 0, [Event("e1", "u", "click", ts=1, item_id="a")])
    join.apply(key, 0, [Shown("u", ("a", "b"), ("personal",) * 2, "m", "x", "e1", now[0])])
    join.store_windows(0)
    assert len(windows) == 1
    now[0] += 3_600_000  # an hour later the user clicks what that homepage showed
    join.apply(key, 0, [Event("e2", "u", "click", ts=2, item_id="b")])
    assert join.stats["judged"] == 0
    join.apply(key, 0, [Shown("u", ("c",), ("personal",), "m", "x", "e2", now[0])])
    join.store_windows(0)
    assert [OnlineWindow.decode(raw).window_start for raw in windows.values()] == [
        now[0] - now[0] % 60_000
    ]
    # A worker taking the partition over publishes what it holds.
    join.take_changed()
    join.republish(0)
    assert [w.served for w in join.take_changed()] == [1]
