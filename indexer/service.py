"""Turns catalog items into item vectors, skipping items whose text is unchanged.

The encoder can be swapped at run time (a new click model brings a new item
tower); :meth:`IndexingService.reencode_all` then re-publishes the whole
catalog under the new encoder version.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from streams.wire import Item, ItemVector

log = logging.getLogger(__name__)

EncodeFn = Callable[[Sequence[str]], np.ndarray]
TextFn = Callable[[Item], str]


def default_text(item: Item) -> str:
    """The base encoder's view of an item: title, category and abstract."""
    return item.text()


@dataclass(frozen=True)
class ItemEncoder:
    """An encoder, how it reads an item, and the version its vectors carry."""

    encode: EncodeFn
    version: str
    text: TextFn = default_text


class IndexingService:
    """Encodes new or changed items in one batched encoder call."""

    def __init__(self, encoder: ItemEncoder) -> None:
        self.encoder = encoder
        # The latest version of every item, so a new encoder can re-encode them all.
        self._items: dict[str, Item] = {}
        # (text, encoder) digest per item: a re-sent, unchanged item costs no BERT call.
        self._digests: dict[str, bytes] = {}
        self.encoded = 0

    @property
    def encoder_version(self) -> str:
        """Version stamped on the vectors this service publishes."""
        return self.encoder.version

    def encode_changed(self, items: Sequence[Item]) -> list[ItemVector]:
        """Vectors for items that are new or whose text changed (latest wins)."""
        latest = {item.item_id: item for item in items}
        self._items.update(latest)
        encoder = self.encoder
        changed = []
        for item in latest.values():
            digest = self._digest(item, encoder)
            if self._digests.get(item.item_id) != digest:
                changed.append((item, digest))
        if not changed:
            return []
        vectors = encoder.encode([encoder.text(item) for item, _ in changed])
        self.encoded += len(changed)
        for item, digest in changed:
            self._digests[item.item_id] = digest
        return [
            ItemVector(
                item_id=item.item_id,
                vector=vector,
                encoder_version=encoder.version,
                title=item.title,
                category=item.category,
                text_digest=digest.hex(),
            )
            for (item, digest), vector in zip(changed, vectors, strict=True)
        ]

    def remember(self, vector: ItemVector) -> bool:
        """Take a published vector's digest as this item's, so an unchanged re-send costs nothing.

        A restarted indexer reads the item-vectors topic once to learn what is
        already encoded; without it every re-published item went through BERT
        again (minutes for a 10k catalog on two cores). Returns whether the
        digest was usable (vectors from before digests were published have none).
        """
        if not vector.text_digest or vector.encoder_version != self.encoder.version:
            return False
        try:
            self._digests[vector.item_id] = bytes.fromhex(vector.text_digest)
        except ValueError:
            return False
        return True

    def switch_encoder(self, encoder: ItemEncoder) -> list[ItemVector]:
        """Use ``encoder`` from now on and return the whole catalog re-encoded with it."""
        self.encoder = encoder
        log.info("re-encoding %d items with %s", len(self._items), encoder.version)
        return self.encode_changed(list(self._items.values()))

    def forget(self, item_id: str) -> None:
        """Drop a deleted item so a re-added one is encoded again."""
        self._digests.pop(item_id, None)
        self._items.pop(item_id, None)

    @staticmethod
    def _digest(item: Item, encoder: ItemEncoder) -> bytes:
        payload = f"{encoder.version}\0{encoder.text(item)}".encode()
        return hashlib.blake2b(payload, digest_size=16).digest()
