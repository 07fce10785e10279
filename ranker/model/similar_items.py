"""Items like a given one: nearest neighbours by cosine over item vectors.

With a sequence model loaded the neighbours are the model's: its item vectors
(trained id rows, the text path for items it never trained on) hold what
users watch together, not only what the titles say. The raw text vector the
live ranking appends with the model's text blend is left out here: it would
dominate the cosine and give back the text neighbours. Without a model, the
pretrained text vectors are used. Cosine rather than the model's raw inner
product: the norm of a softmax-trained item vector grows with popularity,
and "more like this" should not mean "more of the most popular".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from indexer.index import ItemIndex

if TYPE_CHECKING:
    # torch comes with these: a service without a model never imports it.
    from ranker.model.sequence_artifact import SequenceArtifact
    from ranker.model.sequence_live import LiveSequenceModel

log = logging.getLogger(__name__)

# Exact search: one query is a few milliseconds even at 100k items, and an
# exact index is built as fast as vectors are added (no graph to rebuild on a
# model swap while the service waits).
EXACT = "Flat"


class SimilarItems:
    """The catalog's text vectors, and (with a model) its item vectors, searchable by item."""

    def __init__(self) -> None:
        self._text: ItemIndex | None = None
        self._live: LiveSequenceModel | None = None
        self._model_index: ItemIndex | None = None
        # Catalog changes not yet folded into the model's index (done on the next query).
        self._changed: set[str] = set()
        self._removed: set[str] = set()
        self.text_version = ""

    def __len__(self) -> int:
        return 0 if self._text is None else len(self._text)

    @property
    def version(self) -> str:
        """Which vectors answer: the model's version, else the text encoder's."""
        return self._live.model_version if self._live is not None else self.text_version

    def upsert(self, item_ids: Sequence[str], text_vectors: np.ndarray, version: str) -> None:
        """Add or replace items' text vectors."""
        if not item_ids:
            return
        if self._text is None:
            self._text = ItemIndex(int(text_vectors.shape[1]), EXACT)
        self._text.upsert(item_ids, text_vectors)
        self.text_version = version
        self._changed.update(item_ids)
        self._removed.difference_update(item_ids)

    def remove(self, item_ids: Iterable[str]) -> None:
        """Forget deleted items."""
        gone = set(item_ids)
        if self._text is not None:
            self._text.remove(gone)
        self._changed.difference_update(gone)
        self._removed.update(gone)

    def use_model(self, artifact: SequenceArtifact | None) -> None:
        """Answer with ``artifact``'s item vectors from now on (None: text vectors)."""
        if artifact is None:
            self._live = self._model_index = None
            return
        if self._live is not None and self._live.artifact is artifact:
            return
        from ranker.model.sequence_live import LiveSequenceModel

        self._live = LiveSequenceModel(artifact)
        self._model_index = None  # rebuilt from the whole catalog on the next query

    def similar(self, item_id: str, limit: int) -> list[tuple[str, float]] | None:
        """Up to ``limit`` (item, cosine) nearest ``item_id``, itself excluded; None if unknown."""
        index = self._current_index()
        if index is None or item_id not in index:
            return None
        query = index.vectors([item_id])
        (hits,) = index.search(query, limit, exclude=[{item_id}])
        return hits

    def _current_index(self) -> ItemIndex | None:
        text = self._text
        if self._live is None or text is None:
            return text
        if self._model_index is None:
            item_ids = text.item_ids()
            self._model_index = ItemIndex(self._live.model_dim, EXACT)
            self._fold(item_ids)
            log.info("similar items from %s over %d items", self._live.model_version, len(text))
        elif self._changed or self._removed:
            self._model_index.remove(self._removed)
            self._fold([item_id for item_id in self._changed if item_id in text])
        self._changed.clear()
        self._removed.clear()
        return self._model_index

    def _fold(self, item_ids: list[str]) -> None:
        assert self._live is not None and self._text is not None and self._model_index is not None
        if item_ids:
            vectors = self._live.item_vectors(item_ids, self._text.vectors(item_ids))
            self._model_index.upsert(item_ids, vectors[:, : self._live.model_dim])
