"""Closing the loop: what the live system showed, joined with what users then clicked.

Every published homepage is logged to the served topic with the event that
triggered it. For a click in the log, the homepage its user had just before it
is the newest served list made from an earlier event of that user; the items
on it that were *not* clicked are real shown-but-skipped negatives, which
``homefeed train --from-served`` uses instead of (or before) random ones.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from ranker.training.data import Catalog, InteractionLog
from streams.wire import Served

log = logging.getLogger(__name__)


def replay_event_id(user_id: str, item_id: str) -> str:
    """The event id ``homefeed replay`` gives a MovieLens rating (see indexer.datasets)."""
    return f"ml-{user_id}-{item_id}"


def shown_before(
    served: Iterable[Served], catalog: Catalog, log_: InteractionLog
) -> dict[int, list[int]]:
    """For each log position, the item rows on its user's homepage just before it.

    Positions whose user had no served homepage yet are absent. Served lists are
    matched to the log through their source event id, so they must come from a
    replay of the same data set.
    """
    position_of = {
        replay_event_id(log_.user_ids[int(user)], catalog.item_ids[int(item)]): position
        for position, (user, item) in enumerate(zip(log_.users, log_.items, strict=True))
    }
    row_of = {item_id: row for row, item_id in enumerate(catalog.item_ids)}
    # user index -> [(source position, item rows)] in source order
    lists: dict[int, list[tuple[int, list[int]]]] = defaultdict(list)
    unmatched = 0
    for entry in served:
        source = position_of.get(entry.source_event_id or "")
        if source is None:
            unmatched += 1
            continue
        rows = [row_of[item.item_id] for item in entry.items if item.item_id in row_of]
        lists[int(log_.users[source])].append((source, rows))
    if unmatched:
        log.warning("%d served lists did not match an event of this data set", unmatched)
    shown: dict[int, list[int]] = {}
    by_user = log_.user_events()
    for user, entries in lists.items():
        entries.sort(key=lambda entry: entry[0])
        cursor, latest = 0, None
        for position in by_user[user]:
            while cursor < len(entries) and entries[cursor][0] < position:
                latest = entries[cursor][1]
                cursor += 1
            if latest is not None:
                shown[int(position)] = latest
    return shown
