"""What the live board shows and what it sums up: which users, and how alike their homepages are.

A board of four users who all see the same four films says nothing about
personalisation, so :func:`pick_board_users` prefers active users whose top
lists differ; :class:`HomepageTally` counts, over every homepage published,
how many distinct items the top lists hold and how often the most shown one
appears — the figures the demo ends with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.wire import Ranking

TOP_LIST = 5
# A user needs a few refreshed homepages before the board can show them moving.
MIN_UPDATES = 3


@dataclass(slots=True)
class ListTally:
    """Top-``TOP_LIST`` lists counted: how many, and in how many of them each item sits."""

    lists: int = 0
    holding: Counter[str] = field(default_factory=Counter)

    def add(self, ranking: Ranking) -> None:
        """Count one homepage's top list (an item once per list)."""
        self.lists += 1
        self.holding.update({item.item_id for item in ranking.items[:TOP_LIST]})

    def most_shown(self) -> tuple[str | None, float]:
        """The item in the most lists and the share of lists that hold it."""
        if not self.holding:
            return None, 0.0
        item_id, count = self.holding.most_common(1)[0]
        return item_id, count / self.lists

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        item_id, share = self.most_shown()
        return {
            "top5_lists": self.lists,
            "distinct_items": len(self.holding),
            "most_shown_item": item_id,
            "most_shown_share": round(share, 4),
        }


@dataclass(slots=True)
class HomepageTally:
    """Every homepage published, and separately those of the users on the board."""

    everyone: ListTally = field(default_factory=ListTally)
    board: ListTally = field(default_factory=ListTally)
    model_versions: Counter[str] = field(default_factory=Counter)

    def add(self, ranking: Ranking, *, on_board: bool) -> None:
        """Count one published homepage."""
        self.everyone.add(ranking)
        self.model_versions[ranking.model_version] += 1
        if on_board:
            self.board.add(ranking)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return {
            "homepages": self.everyone.lists,
            "all": self.everyone.to_dict(),
            "board": self.board.to_dict(),
            "model_versions": dict(self.model_versions),
        }


def top_items(ranking: Ranking) -> set[str]:
    """The items of a homepage's top list."""
    return {item.item_id for item in ranking.items[:TOP_LIST]}


def pick_board_users(
    latest: Mapping[str, Ranking], updates: Mapping[str, int], show: int
) -> list[str]:
    """``show`` active users whose top lists overlap least with each other.

    The most active user comes first; each next one is, among the users with
    at least ``MIN_UPDATES`` homepages, the one sharing the fewest top items
    with those already chosen (ties to the more active). Fewer active users
    than ``show``: the most active of everyone.
    """
    active = [user for user, count in updates.items() if count >= MIN_UPDATES and user in latest]
    if len(active) < show:
        active = [user for user in updates if user in latest]
    by_activity = sorted(active, key=lambda user: (-updates[user], user))
    chosen: list[str] = []
    shown_items: Counter[str] = Counter()
    for _ in range(min(show, len(by_activity))):
        best = min(
            (user for user in by_activity if user not in chosen),
            key=lambda user: (
                sum(shown_items[item] for item in top_items(latest[user])),
                -updates[user],
                user,
            ),
        )
        chosen.append(best)
        shown_items.update(top_items(latest[best]))
    return chosen
