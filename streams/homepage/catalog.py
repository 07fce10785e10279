"""Titles and categories of the catalog, as the indexer publishes them with each vector.

The service reads the compacted item-vectors topic rather than the items
topic: it is what the rankers see, so a title shown on a card always belongs
to an item the rankers can serve. Vectors themselves are dropped on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What a card shows about an item."""

    title: str
    category: str | None


class Catalog:
    """Item id → title and category, kept current by upserts and deletes."""

    def __init__(self) -> None:
        self._entries: dict[str, CatalogEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._entries

    def put(self, item_id: str, title: str, category: str | None) -> None:
        """Add or replace an item."""
        self._entries[item_id] = CatalogEntry(title, category)

    def remove(self, item_id: str) -> None:
        """Drop a deleted item (a tombstone on item-vectors)."""
        self._entries.pop(item_id, None)

    def get(self, item_id: str) -> CatalogEntry | None:
        """Return the item's entry, or None when unknown."""
        return self._entries.get(item_id)

    def title(self, item_id: str) -> str:
        """Return the item's title, or its id when the title is unknown."""
        entry = self._entries.get(item_id)
        return entry.title if entry is not None and entry.title else item_id
