"""The indexer skips items whose text is unchanged, across restarts too."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.service import IndexingService, ItemEncoder
from streams.wire import Item, ItemVector


class CountingEncoder:
    """Deterministic vectors from the text; counts the texts it was given."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


CATALOG = [Item(f"i{n}", f"a story number {n}", category="news") for n in range(5)]


def service(version: str = "enc-1") -> tuple[IndexingService, CountingEncoder]:
    encoder = CountingEncoder()
    return IndexingService(ItemEncoder(encoder, version)), encoder


def published(vectors: list[ItemVector]) -> list[ItemVector]:
    """The vectors as a restarted worker reads them back from the topic."""
    return [ItemVector.decode(vector.encode()) for vector in vectors]


def test_an_unchanged_resend_is_not_encoded_and_a_changed_item_is() -> None:
    indexing, encoder = service()
    assert len(indexing.encode_changed(CATALOG)) == 5
    assert indexing.encode_changed(CATALOG) == []
    edited = Item("i0", "a different story", category="news")
    (vector,) = indexing.encode_changed([edited, *CATALOG[1:]])
    assert vector.item_id == "i0"
    assert len(encoder.texts) == 6


def test_a_restarted_indexer_learns_what_is_published_from_the_vectors() -> None:
    first, _ = service()
    on_topic = published(first.encode_changed(CATALOG))
    assert all(vector.text_digest for vector in on_topic)
    restarted, encoder = service()
    assert all(restarted.remember(vector) for vector in on_topic)
    edited = Item("i3", "an edited story", category="news")
    changed = restarted.encode_changed([*CATALOG[:3], edited, CATALOG[4]])
    assert [vector.item_id for vector in changed] == ["i3"]
    assert encoder.texts == [edited.text()]


def test_digests_of_another_encoder_are_not_taken() -> None:
    first, _ = service("enc-1")
    on_topic = published(first.encode_changed(CATALOG))
    other, encoder = service("enc-2")
    assert not any(other.remember(vector) for vector in on_topic)
    assert len(other.encode_changed(CATALOG)) == 5
    assert len(encoder.texts) == 5
