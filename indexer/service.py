"""Turns catalog items into item vectors, skipping items whose text is unchanged."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence

import numpy as np

from streams.wire import Item, ItemVector

log = logging.getLogger(__name__)

EncodeFn = Callable[[Sequence[str]], np.ndarray]


class IndexingService:
    """Encodes new or changed items in one batched encoder call."""

    def __init__(self, encode: EncodeFn, encoder_version: str) -> None:
        self._encode = encode
        self.encoder_version = encoder_version
        # text digest per item: a re-sent, unchanged item costs no BERT call.
        self._digests: dict[str, bytes] = {}
        self.encoded = 0

    def encode_changed(self, items: Sequence[Item]) -> list[ItemVector]:
        """Vectors for items that are new or whose text changed (latest wins)."""
        latest = {item.item_id: item for item in items}
        changed = []
        for item in latest.values():
            digest = hashlib.blake2b(item.text().encode(), digest_size=16).digest()
            if self._digests.get(item.item_id) != digest:
                changed.append((item, digest))
        if not changed:
            return []
        vectors = self._encode([item.text() for item, _ in changed])
        self.encoded += len(changed)
        for item, digest in changed:
            self._digests[item.item_id] = digest
        return [
            ItemVector(
                item_id=item.item_id,
                vector=vector,
                encoder_version=self.encoder_version,
                title=item.title,
                category=item.category,
            )
            for (item, _), vector in zip(changed, vectors, strict=True)
        ]

    def forget(self, item_id: str) -> None:
        """Drop the digest of a deleted item so a re-added one is encoded again."""
        self._digests.pop(item_id, None)
