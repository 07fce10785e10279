"""Factories shared by the test tiers (data folders, catalogs, events)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable
from pathlib import Path

from indexer.datasets import load_msn_items
from streams.wire import Event, Item

# The checkout the tests run from, and the data sets beside it.
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
_event_ids = itertools.count()


def write_movielens(
    folder: Path,
    *,
    movies: Iterable[tuple[str, str, str]],
    ratings: Iterable[tuple[str, str, float, int]],
    tags: Iterable[tuple[str, str, str, int]] = (),
) -> Path:
    """Write a small folder in MovieLens CSV format."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "movies.csv": (["movieId", "title", "genres"], movies),
        "ratings.csv": (["userId", "movieId", "rating", "timestamp"], ratings),
        "tags.csv": (["userId", "movieId", "tag", "timestamp"], tags),
    }
    for name, (header, rows) in tables.items():
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    return folder


def msn_items() -> list[Item]:
    """The 500 real MSN articles."""
    return load_msn_items(SHARED_DATA / "msn-news-sample" / "DocFeatures.tsv")


def make_event(
    user_id: str,
    item_id: str | None,
    kind: str = "click",
    ts: int = 1,
    text: str | None = None,
    event_id: str | None = None,
) -> Event:
    """An event with a fresh id unless one is given."""
    return Event(event_id or f"t-{next(_event_ids)}", user_id, kind, ts, item_id, text)  # type: ignore[arg-type]


class DictStore:
    """User state in a dict: the ranking service's store without Faust (``data`` may be shared)."""

    def __init__(self, data: dict[str, bytes] | None = None) -> None:
        self.data: dict[str, bytes] = {} if data is None else data

    def get(self, user_id: str) -> bytes | None:
        return self.data.get(user_id)

    def put(self, user_id: str, state: bytes) -> None:
        self.data[user_id] = state

    def delete(self, user_id: str) -> None:
        self.data.pop(user_id, None)
