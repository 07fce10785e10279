"""A terminal view of live homepages: what each user sees, and the event that moved it."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from streams.follow import decoded_rankings, whole_topic_consumer
from streams.wire import Ranking

log = logging.getLogger(__name__)


def render(
    rankings: Mapping[str, Ranking],
    users: list[str],
    titles: Mapping[str, str],
    *,
    top: int,
    updates: Mapping[str, int],
) -> str:
    """The board as text: one block per user, newest event first line."""
    lines = []
    for user_id in users:
        ranking = rankings.get(user_id)
        if ranking is None:
            lines.append(f"user {user_id}: (no ranking yet)")
            continue
        when = ""
        if ranking.source_event_ts:
            when = datetime.fromtimestamp(ranking.source_event_ts / 1000, UTC).strftime("%Y-%m-%d")
        moved_by = ranking.source_event_type or "event"
        if ranking.source_item_id:
            moved_by += f" on “{titles.get(ranking.source_item_id, ranking.source_item_id)}”"
        lines.append(
            f"user {user_id} — {updates.get(user_id, 0)} updates — last: {moved_by} {when}"
            f"  [{ranking.model_version}]"
        )
        for rank, item in enumerate(ranking.items[:top], start=1):
            title = titles.get(item.item_id, item.item_id)
            lines.append(f"  {rank:2d}. {title[:60]:60s} {item.score:6.3f}  {item.reason[:50]}")
        lines.append("")
    return "\n".join(lines)


async def watch(
    bootstrap_servers: str,
    rankings_topic: str,
    titles: Mapping[str, str],
    *,
    users: list[str] | None = None,
    show: int = 4,
    top: int = 5,
    refresh_s: float = 1.0,
    duration_s: float | None = None,
    out: TextIO = sys.stdout,
    banner: str = "",
) -> dict[str, Ranking]:
    """Follow the rankings topic and redraw the board until cancelled or ``duration_s``."""
    consumer = whole_topic_consumer(bootstrap_servers, rankings_topic)
    await consumer.start()
    latest: dict[str, Ranking] = {}
    updates: dict[str, int] = {}
    chosen = list(users or [])
    started = last_draw = time.monotonic()
    try:
        while duration_s is None or time.monotonic() - started < duration_s:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for ranking in decoded_rankings(record.value for record in records):
                    if len(chosen) < show and ranking.user_id not in chosen and not users:
                        chosen.append(ranking.user_id)
                    latest[ranking.user_id] = ranking
                    updates[ranking.user_id] = updates.get(ranking.user_id, 0) + 1
            if time.monotonic() - last_draw >= refresh_s and chosen:
                last_draw = time.monotonic()
                board = render(latest, chosen, titles, top=top, updates=updates)
                if out.isatty():
                    out.write("\x1b[2J\x1b[H")
                out.write(f"Homefeed — live homepages ({len(latest)} users ranked)\n{banner}\n")
                out.write(f"{board}\n")
                out.flush()
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return latest
