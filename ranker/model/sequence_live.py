"""The sequence model in a worker: item vectors for the live catalog, user vectors per batch.

A worker's replica holds every catalog item's MiniLM text vector (the
indexer publishes them). The sequence model's item vector is a cheap function
of that vector plus the item's id row, so each worker derives the model's item
vectors itself and keeps them in an inner-product FAISS index of its own:

* an item the model was trained on gets the vector it was trained with (its
  training text, tags included, plus its id row);
* any other catalog item gets the text path alone, computed the moment its text
  vector reaches the replica, so a brand-new item is searchable at once;
* a new artifact (hot swap) derives the whole index again, in well under a
  second of projection at 100k items; nothing has to be re-published.

Deriving beats publishing a second copy of the catalog per model version:
a swap does not wait for the indexer to re-send 100k records, and no topic
carries vectors that every worker can compute from what it already has.

A model that tuned BERT's top layer in training (``text_tuning`` other than
``frozen``) carries its catalog's tuned text vectors, and its trained items are
served with them (model part and blend). Items new since training get the
indexer's pretrained vectors through the same projection: the tuned layer
starts from the pretrained one, but this path is approximate, and exact only
for frozen models (the default). Serving it exactly would need the indexer
to publish vectors from the tuned layer (the click model's route).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from ranker.model.sequence import PAD, text_profile
from ranker.model.sequence_artifact import SequenceArtifact
from ranker.model.sequence_input import (
    SEQUENCE_EVENT_TYPES,
    History,
    Timeline,
    history_tensors,
)
from ranker.state import Interaction

log = logging.getLogger(__name__)

# Exact search below this many items: at 64 dimensions a Flat scan of 100k
# items costs about what an HNSW search does, and builds in no time.
APPROXIMATE_FROM = 250_000
_TYPE_CODES = {name: code for code, name in enumerate(SEQUENCE_EVENT_TYPES)}


@dataclass(frozen=True)
class UserBatch:
    """User vectors of the users in a batch that have a usable history."""

    positions: list[int]  # query positions with a vector
    vectors: np.ndarray  # (len(positions), dim) float32


class LiveSequenceModel:
    """One loaded artifact serving the catalog the replica holds."""

    def __init__(self, artifact: SequenceArtifact) -> None:
        self.artifact = artifact
        self.model_version = artifact.model_version
        self._model = artifact.model.eval()
        self._trained_row = {item_id: row + 1 for row, item_id in enumerate(artifact.item_ids)}
        with torch.inference_mode():
            self._trained_vectors = self._model.items().numpy()
        config = self._model.config
        # Tuned text vectors of the trained items, for the blend (see the module note).
        self._trained_texts: np.ndarray | None = None
        if config.text_tuning != "frozen":
            self._trained_texts = self._model.text_table().numpy()
        self.model_dim = config.vector_dim
        self.text_blend = config.text_blend
        # With a text blend the index holds [item vector, blend · text vector]
        # and users are [user vector, text query] (the text profile, plus the
        # learned map where the model has one): one inner product is the
        # model's whole score.
        self.dim = config.vector_dim + (config.text_dim if self.text_blend else 0)
        self.max_length = config.max_length
        self.index = ItemIndex(self.dim, "auto", approximate_from=APPROXIMATE_FROM, normalise=False)

    # --- item vectors ---------------------------------------------------------

    def item_vectors(self, item_ids: Sequence[str], text_vectors: np.ndarray) -> np.ndarray:
        """Model vectors of catalog items: as trained for known items, from text otherwise."""
        vectors = np.empty((len(item_ids), self.model_dim), dtype=np.float32)
        trained = np.fromiter(
            (self._trained_row.get(item_id, 0) for item_id in item_ids), np.int64, len(item_ids)
        )
        known = trained > 0
        vectors[known] = self._trained_vectors[trained[known]]
        if (~known).any():
            vectors[~known] = self._text_path(text_vectors[~known])
        if self._trained_texts is not None and known.any():
            text_vectors = np.array(text_vectors, dtype=np.float32)
            text_vectors[known] = self._trained_texts[trained[known]]
        return self._with_text(vectors, text_vectors)

    def text_only_vectors(self, text_vectors: np.ndarray) -> np.ndarray:
        """What a never-seen item is scored with: the item table's text path (and its text)."""
        return self._with_text(self._text_path(text_vectors), text_vectors)

    def _text_path(self, text_vectors: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            projected = self._model.items.text_only(
                torch.from_numpy(np.ascontiguousarray(text_vectors, dtype=np.float32))
            )
        return projected.numpy()

    def _with_text(self, model_vectors: np.ndarray, text_vectors: np.ndarray) -> np.ndarray:
        if not self.text_blend:
            return model_vectors
        blended = self.text_blend * np.asarray(text_vectors, dtype=np.float32)
        return np.concatenate([model_vectors, blended], axis=1)

    def build(self, replica: IndexReplica) -> None:
        """Derive the index for every item the replica holds now."""
        started = time.perf_counter()
        item_ids = replica.index.item_ids()
        self.upsert(item_ids, replica.index.vectors(item_ids))
        log.info(
            "sequence model %s serving %d items (%d trained) after %.2fs",
            self.model_version,
            len(self.index),
            sum(item_id in self._trained_row for item_id in item_ids),
            time.perf_counter() - started,
        )

    def upsert(self, item_ids: Sequence[str], text_vectors: np.ndarray) -> None:
        """Add or refresh catalog items from their text vectors."""
        if item_ids:
            self.index.upsert(item_ids, self.item_vectors(item_ids, text_vectors))

    # --- users ----------------------------------------------------------------

    def user_vectors(self, histories: Sequence[list[Interaction]]) -> UserBatch:
        """One forward pass for every user whose history holds an item of the index.

        The input is what the model was trained on: item vectors in time order,
        seconds since the previous interaction, and the interaction type.
        """
        positions: list[int] = []
        timelines: list[Timeline] = []
        for position, history in enumerate(histories):
            usable = [i for i in history if i.type in _TYPE_CODES][-self.max_length :]
            rows = self.index.rows([i.item_id for i in usable])
            present = rows >= 0
            if not present.any():
                continue
            positions.append(position)
            # Timeline items are the model index's rows here, not catalog rows.
            timelines.append(
                Timeline(
                    rows[present],
                    np.array([i.ts // 1000 for i in usable], dtype=np.int64)[present],
                    np.array([_TYPE_CODES[i.type] for i in usable], dtype=np.int8)[present],
                )
            )
        if not timelines:
            return UserBatch([], np.empty((0, self.dim), dtype=np.float32))
        width = max(len(timeline.items) for timeline in timelines)
        # The same input form as training (gaps, types, padding): sequence_input.
        sequence, gaps, types = history_tensors(History.from_timelines(timelines, width), width)
        index_rows = sequence.numpy().reshape(-1) - 1  # -1 on padding: zero vectors
        inputs = torch.from_numpy(
            self.index.vectors_at(index_rows).reshape(len(timelines), width, -1)
        )
        with torch.inference_mode():
            hidden = self._model.encode_inputs(
                inputs[..., : self.model_dim], sequence > PAD, gaps, types
            )[:, -1]
            if self.text_blend:
                # The stored text part is blend · text; the profile is unit length anyway.
                profile = text_profile(
                    inputs[..., self.model_dim :], types, self._model.config.profile_decay
                )
                hidden = torch.cat([hidden, self._model.text_queries(hidden, profile)], dim=1)
        return UserBatch(positions, hidden.numpy())


class SequenceServing:
    """The live sequence model of a worker, kept in step with its replica.

    ``model`` returns the artifact loaded now (None until one is). Catalog
    changes are noted as the replica applies them (on the event loop, under
    the replica lock) and folded into the model's index when a ranking pass
    asks for the model (in the ranking thread, under the same lock).
    """

    def __init__(
        self,
        replica: IndexReplica,
        model: Callable[[], SequenceArtifact | None],
    ) -> None:
        self._replica = replica
        self._model = model
        self._live: LiveSequenceModel | None = None
        self._changed: set[str] = set()
        self._removed: set[str] = set()
        replica.subscribe(self._note)

    def _note(self, upserted: Sequence[str], removed: Sequence[str]) -> None:
        if self._live is None:
            return  # the next build reads the whole replica anyway
        self._changed.difference_update(removed)
        self._removed.update(removed)
        self._removed.difference_update(upserted)
        self._changed.update(upserted)

    def current(self) -> LiveSequenceModel | None:
        """The live model, its index up to date with the replica; None without an artifact."""
        artifact = self._model()
        if artifact is None or not len(self._replica):
            return None
        live = self._live
        if live is None or live.artifact is not artifact:
            live = LiveSequenceModel(artifact)
            live.build(self._replica)
            self._live = live
            self._changed.clear()
            self._removed.clear()
            return live
        if self._removed:
            live.index.remove(self._removed)
            self._removed.clear()
        if self._changed:
            item_ids = [item_id for item_id in self._changed if item_id in self._replica]
            live.upsert(item_ids, self._replica.index.vectors(item_ids))
            self._changed.clear()
        return live
