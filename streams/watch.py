"""A terminal view of live homepages: what each user sees, and the event that moved it."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TextIO

from streams.board import HomepageTally, pick_board_users
from streams.follow import decoded_rankings, whole_topic_consumer
from streams.kafka_connection import KafkaConnection
from streams.wire import Ranking

log = logging.getLogger(__name__)

# Prequential scoring reads a homepage's top 10; keeping only those keeps a
# long demo's memory small.
KEPT_ITEMS = 10
PIPED_DRAW_S = 15.0


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


@dataclass(slots=True)
class Board:
    """What a watch saw: every user's latest homepage, the tally, the rankings in order."""

    latest: dict[str, Ranking] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)
    tally: HomepageTally = field(default_factory=HomepageTally)
    rankings: list[Ranking] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    last_ranking_at: float = field(default_factory=time.monotonic)

    def add(self, ranking: Ranking) -> None:
        """Take in one published homepage."""
        self.latest[ranking.user_id] = ranking
        self.updates[ranking.user_id] = self.updates.get(ranking.user_id, 0) + 1
        self.tally.add(ranking, on_board=ranking.user_id in self.users)
        self.rankings.append(replace(ranking, items=ranking.items[:KEPT_ITEMS]))
        self.last_ranking_at = time.monotonic()


async def watch(
    kafka: KafkaConnection,
    rankings_topic: str,
    titles: Mapping[str, str],
    *,
    users: list[str] | None = None,
    show: int = 4,
    top: int = 5,
    refresh_s: float = 1.0,
    repick_s: float = 20.0,
    duration_s: float | None = None,
    out: TextIO = sys.stdout,
    banner: str = "",
    status: Callable[[Board], str] | None = None,
    done: Callable[[Board], bool] | None = None,
    board: Board | None = None,
) -> Board:
    """Follow the rankings topic and redraw the board until cancelled, ``done`` or ``duration_s``.

    Without ``users``, the board shows the ``show`` most active users with the
    least alike homepages, picked again every ``repick_s``. ``status`` (run in
    a thread: it may ask the broker) gives a line for the header. A given
    ``board`` is filled in place, so its caller keeps what was seen when
    interrupted.
    """
    consumer = whole_topic_consumer(kafka, rankings_topic)
    await consumer.start()
    board = Board() if board is None else board
    board.users = list(users or [])
    started = last_look = last_pick = time.monotonic()
    last_draw = 0.0
    try:
        while duration_s is None or time.monotonic() - started < duration_s:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for ranking in decoded_rankings(record.value for record in records):
                    board.add(ranking)
            now = time.monotonic()
            if not users and (len(board.users) < show or now - last_pick >= repick_s):
                board.users, last_pick = pick_board_users(board.latest, board.updates, show), now
            if now - last_look >= refresh_s:
                last_look = now
                header = await asyncio.to_thread(status, board) if status else ""
                finished = done is not None and done(board)
                # A terminal redraws in place; a log or pipe gets a board now and then.
                if out.isatty() or now - last_draw >= PIPED_DRAW_S or finished:
                    last_draw = now
                    _draw(out, board, titles, top=top, banner=banner, header=header)
                if finished:
                    break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return board


def _draw(
    out: TextIO, board: Board, titles: Mapping[str, str], *, top: int, banner: str, header: str
) -> None:
    if out.isatty():
        out.write("\x1b[2J\x1b[H")
    versions = ", ".join(sorted(board.tally.model_versions)) or "nothing yet"
    out.write(
        f"Homefeed — live homepages ({len(board.latest)} users ranked; ranked by {versions})\n"
        f"{banner}{header}\n\n"
    )
    if board.users:
        body = render(board.latest, board.users, titles, top=top, updates=board.updates)
        out.write(f"{body}\n")
    out.flush()
