"""What the model reads from a catalog item's text fields: its text, release year and genres.

Training (MovieLens folders) and the live worker (item-vector messages) both
go through these, so an item reads the same in both.
"""

from __future__ import annotations

import re

_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")


def item_text(title: str, genres: str | None, tags: str | None) -> str:
    """Text the item tower reads: title without its year, genres, tags.

    The year is left out because MiniLM vectors of "(1994)" titles cluster by
    year; the year becomes the item-age feature instead.
    """
    parts = [_YEAR.sub("", title).strip() or title]
    if genres:
        parts.append(f"Genres: {genres}")
    if tags:
        parts.append(f"Tags: {tags}")
    return ". ".join(parts)


def release_year(title: str) -> float:
    """The ``(1994)`` year at the end of a MovieLens title, NaN if absent."""
    match = _YEAR.search(title)
    return float(match.group(1)) if match else float("nan")


def genre_set(category: str | None) -> set[str]:
    """Genres of a catalog category label (``"Action, Crime"``)."""
    return {g for g in (category or "").split(", ") if g}
