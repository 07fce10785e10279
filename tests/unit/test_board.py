"""Which users the live board shows, and how alike the homepages were."""

from __future__ import annotations

from streams.board import HomepageTally, ListTally, pick_board_users
from streams.wire import RankedItem, Ranking


def homepage(user_id: str, *item_ids: str) -> Ranking:
    items = [RankedItem(item_id, 1.0 - n / 100, "") for n, item_id in enumerate(item_ids)]
    return Ranking(user_id, items, "seq-test", 0, None, None)


def test_board_prefers_active_users_with_different_homepages() -> None:
    latest = {
        "busy": homepage("busy", "a", "b", "c", "d", "e"),
        "twin": homepage("twin", "a", "b", "c", "d", "e"),
        "other": homepage("other", "v", "w", "x", "y", "z"),
        "quiet": homepage("quiet", "p", "q", "r", "s", "t"),
    }
    updates = {"busy": 9, "twin": 8, "other": 5, "quiet": 1}
    # "twin" is more active than "other" but sees the same page as "busy";
    # "quiet" has too few homepages to show movement.
    assert pick_board_users(latest, updates, 2) == ["busy", "other"]
    assert pick_board_users(latest, updates, 3) == ["busy", "other", "twin"]


def test_board_takes_whoever_there_is_when_few_are_active() -> None:
    latest = {"new": homepage("new", "a"), "newer": homepage("newer", "b")}
    assert sorted(pick_board_users(latest, {"new": 1, "newer": 1}, 4)) == ["new", "newer"]
    assert pick_board_users({}, {}, 4) == []


def test_tally_counts_an_item_once_per_top_five_list() -> None:
    tally = ListTally()
    tally.add(homepage("u1", "a", "b", "c", "d", "e", "f"))
    tally.add(homepage("u2", "a", "x", "y", "z", "w"))
    tally.add(homepage("u3", "q", "r", "s", "t", "u", "a"))  # "a" sixth: not in the top 5
    assert tally.most_shown() == ("a", 2 / 3)
    assert tally.to_dict()["distinct_items"] == 5 + 4 + 5


def test_homepage_tally_keeps_the_board_apart() -> None:
    tally = HomepageTally()
    tally.add(homepage("on", "a"), on_board=True)
    tally.add(homepage("off", "b"), on_board=False)
    assert tally.everyone.lists == 2 and tally.board.lists == 1
    assert tally.to_dict()["model_versions"] == {"seq-test": 2}
