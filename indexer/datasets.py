"""Loaders for the real data sets in ``../shared/data``: catalogs and event logs.

MovieLens folders (``movies.csv``, optional ``tags.csv``, ``ratings.csv``) give
both a catalog and a time-ordered log of real user activity; the MSN news
sample (``DocFeatures.tsv``) is a catalog only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.data_files import DataFileError, csv_rows, number, whole_number
from streams.wire import Event, EventType, Item

log = logging.getLogger(__name__)

MSN_FILE = "DocFeatures.tsv"
# A star rating is explicit feedback; the stream speaks in clicks. Four stars or
# more is what a user would have clicked on, two or less is a "not for me".
CLICK_MIN_RATING = 4.0
DISLIKE_MAX_RATING = 2.0
MAX_TAGS_PER_MOVIE = 8
MOVIE_COLUMNS = ("movieId", "title", "genres")
RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
TAG_COLUMNS = ("userId", "movieId", "tag", "timestamp")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A catalog plus (possibly empty) event log, ready to replay."""

    name: str
    items: list[Item]
    events: list[Event]


def rating_to_event_type(rating: float) -> EventType:
    """Map a MovieLens star rating to the event type the stream uses."""
    if rating >= CLICK_MIN_RATING:
        return "click"
    if rating <= DISLIKE_MAX_RATING:
        return "dislike"
    return "view"


def check_movielens_folder(folder: Path) -> None:
    """A :class:`DataFileError` unless ``folder`` is in the MovieLens layout."""
    if not folder.is_dir():
        raise DataFileError(folder, "no such folder")
    if not (folder / "movies.csv").is_file():
        raise DataFileError(
            folder,
            "not a MovieLens-layout folder: needs movies.csv and ratings.csv (tags.csv optional)",
        )


def load_movielens_items(folder: Path) -> list[Item]:
    """Movies as items: title, genres as category, top user tags as abstract."""
    tags_by_movie: dict[str, dict[str, int]] = defaultdict(dict)
    tags_path = folder / "tags.csv"
    if tags_path.exists():
        for _, row in csv_rows(tags_path, TAG_COLUMNS):
            counts = tags_by_movie[row["movieId"]]
            tag = row["tag"].strip().lower()
            counts[tag] = counts.get(tag, 0) + 1
    items = []
    for _, row in csv_rows(folder / "movies.csv", MOVIE_COLUMNS):
        genres = row["genres"]
        category = None if genres == "(no genres listed)" else genres.replace("|", ", ")
        tag_counts = tags_by_movie.get(row["movieId"], {})
        top_tags = sorted(tag_counts, key=lambda t: (-tag_counts[t], t))[:MAX_TAGS_PER_MOVIE]
        items.append(
            Item(
                item_id=row["movieId"],
                title=row["title"],
                category=category,
                abstract=", ".join(top_tags) or None,
            )
        )
    return items


def iter_movielens_events(folder: Path) -> Iterator[Event]:
    """Ratings as events, in time order (ties broken by user then movie)."""
    path = folder / "ratings.csv"
    rows = []
    for line, row in csv_rows(path, RATING_COLUMNS):
        rows.append(
            (
                whole_number(path, line, "timestamp", row["timestamp"]),
                row["userId"],
                row["movieId"],
                number(path, line, "rating", row["rating"]),
            )
        )
    rows.sort(key=lambda r: (r[0], int(r[1]) if r[1].isdigit() else 0, r[1], r[2]))
    for timestamp, user_id, movie_id, rating in rows:
        yield Event(
            # Deterministic ids: a second replay of the same log is recognised
            # as duplicates instead of being counted twice.
            event_id=f"ml-{user_id}-{movie_id}",
            user_id=user_id,
            type=rating_to_event_type(rating),
            ts=timestamp * 1000,
            item_id=movie_id,
        )


def load_msn_items(path: Path) -> list[Item]:
    """MSN news articles as items: title, category/subcategory, abstract."""
    items = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 5:
                log.warning("skipping malformed MSN line with %d fields", len(fields))
                continue
            news_id, category, _subcategory, title, abstract = fields[:5]
            items.append(
                Item(
                    item_id=news_id,
                    title=title.strip(),
                    category=category,
                    abstract=" ".join(abstract.split()) or None,
                )
            )
    return items


def load_dataset(path: Path, *, with_events: bool = True) -> Dataset:
    """Recognise a data set folder (MovieLens or MSN) and load it."""
    if (path / "movies.csv").exists():
        events = list(iter_movielens_events(path)) if with_events else []
        return Dataset(name=path.name, items=load_movielens_items(path), events=events)
    msn_file = path if path.is_file() else path / MSN_FILE
    if msn_file.exists():
        return Dataset(name=path.name, items=load_msn_items(msn_file), events=[])
    raise DataFileError(
        path,
        "not a data set: no movies.csv (a MovieLens-layout folder: movies.csv, ratings.csv, "
        f"optional tags.csv) and no {MSN_FILE} (the MSN sample)",
    )
