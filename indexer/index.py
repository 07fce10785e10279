"""Item vector index: a streaming catalog of unit vectors searched by cosine.

Vectors live in our own float32 array (:class:`indexer.rows.VectorRows`, one
row per stored vector) and a FAISS index built from a factory string is keyed
by those row numbers. Items come and
go at any time:

* ``upsert`` appends a fresh row and retires the item's old one, so an update
  is a remove plus an add.
* Indexes that support ``remove_ids`` (Flat, IVF) drop retired rows at once.
  HNSW cannot, so its retired rows stay in the graph as tombstones (they still
  help navigation) and are filtered out of results.
* When retired rows pass ``max_deleted_fraction`` of all rows, the index is
  rebuilt from the live rows; the same happens when ``auto`` crosses from exact
  to approximate search, or a trainable index (IVF) first has enough vectors to
  train on. Until then a trainable index is served by an exact Flat index.

Rebuilds run inline and block the caller: on two cores HNSW32 takes about 7 s
per 10k 384-d items (2 s for 64-d); Flat takes milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from indexer.factories import (
    AUTO,
    EXACT_FACTORY,
    configure,
    desired_factory,
    new_faiss_index,
    train_size_for,
)
from indexer.rows import VectorRows, as_matrix, unit_rows

logger = logging.getLogger(__name__)


Hit = tuple[str, float]


@dataclass(frozen=True)
class IndexState:
    """An index's contents and settings, as a snapshot stores them."""

    dim: int
    factory: str
    options: dict[str, Any]
    store: np.ndarray  # (rows, dim) float32, one per row ever added since the last rebuild
    row_ids: list[str | None]  # row -> item id, None once retired
    faiss_index: Any
    built_factory: str
    tombstones: int


# Smallest query batch searched with all OpenMP threads.
_THREADED_FROM = 20
_MAX_THREADS = faiss.omp_get_max_threads()
# Smallest query batch an exact (Flat) search computes as one matrix product.
# FAISS 1.15 switches to BLAS only from ``nq * dim >= 128,000``: at 448
# dimensions a batch of 256 users took the one-query-at-a-time path, 11 ms
# per user over 100k items against 1.4 ms with BLAS (64-d: 1.0 against 0.23).
# One query is faster without BLAS (12 ms against 42 ms at 448-d); from 4-8
# queries BLAS wins at both widths (docs/benchmarks.md).
BLAS_FROM_QUERIES = 8


class ItemIndex:
    """Cosine search over item vectors keyed by string item id.

    Args:
        dim: Vector length.
        factory: FAISS factory string (``"Flat"``, ``"HNSW32"``,
            ``"IVF1024,Flat"``...) or ``"auto"``: exact Flat below
            ``approximate_from`` live items, HNSW32 from there on.
        approximate_from: Live items at which ``auto`` switches to HNSW; it
            switches back to Flat once fewer than half of that remain.
        ef_construction: HNSW build breadth (higher: better graph, slower adds).
        ef_search: Smallest HNSW search breadth. A search also uses at least
            as many as the neighbours it fetches.
        nprobe: IVF lists probed per query; default ``nlist // 16``.
        train_size: Live items needed before a trainable index is trained;
            default 39 per IVF centroid (or per PQ centroid).
        max_deleted_fraction: Share of retired rows that triggers a rebuild.
        normalise: Scale vectors and queries to unit length (cosine search).
            Off, the index ranks by raw inner product: a model whose scores
            are ``user · item`` (the sequence model) needs its vector norms.

    """

    def __init__(
        self,
        dim: int,
        factory: str = AUTO,
        *,
        approximate_from: int = 50_000,
        ef_construction: int = 128,
        ef_search: int = 128,
        nprobe: int | None = None,
        train_size: int | None = None,
        max_deleted_fraction: float = 0.25,
        normalise: bool = True,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not 0.0 < max_deleted_fraction < 1.0:
            raise ValueError(f"max_deleted_fraction must be in (0, 1), got {max_deleted_fraction}")
        self._dim = dim
        self._factory = factory
        self._approximate_from = approximate_from
        self._ef_construction = ef_construction
        self._ef_search = ef_search
        self._nprobe = nprobe
        self._max_deleted_fraction = max_deleted_fraction
        self._normalise = normalise
        self._train_size = train_size_for(dim, factory, train_size)
        # Saved with the index so a loaded one behaves like the one saved.
        self._options: dict[str, Any] = {
            "approximate_from": approximate_from,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
            "nprobe": nprobe,
            "train_size": self._train_size or None,
            "max_deleted_fraction": max_deleted_fraction,
            "normalise": normalise,
        }
        self._vectors = VectorRows(dim)
        self._tombstones = 0  # retired rows still inside the FAISS index
        self._can_remove = True
        # Empty: trainable and auto indexes start exact; _maybe_rebuild moves on.
        self._built_factory = EXACT_FACTORY if factory == AUTO or self._train_size else factory
        self._index = self._new_index(self._built_factory)

    # --- catalog updates ------------------------------------------------------

    def upsert(self, item_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add items or replace their vectors; within one call the last duplicate wins."""
        matrix = as_matrix(vectors, self._dim, "vectors")
        if len(item_ids) != len(matrix):
            raise ValueError(f"{len(item_ids)} item ids for {len(matrix)} vectors")
        if not np.isfinite(matrix).all():
            raise ValueError("vectors contain NaN or infinity")
        last_position = {item_id: position for position, item_id in enumerate(item_ids)}
        if len(last_position) < len(item_ids):
            matrix = matrix[list(last_position.values())]
        ids = list(last_position)
        if not ids:
            return
        replaced = (self._vectors.live_row(item_id) for item_id in ids)
        self._retire([row for row in replaced if row is not None])
        stored = unit_rows(matrix) if self._normalise else np.ascontiguousarray(matrix)
        rows = self._vectors.append(ids, stored)
        if not self._maybe_rebuild():
            self._index.add_with_ids(stored, rows)

    def remove(self, item_ids: Iterable[str]) -> int:
        """Remove items; returns how many were present."""
        rows = self._vectors.forget(item_ids)
        self._retire(rows)
        self._maybe_rebuild()
        return len(rows)

    # --- lookups --------------------------------------------------------------

    def __len__(self) -> int:
        return self._vectors.live_count

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._vectors

    def item_ids(self) -> list[str]:
        """Ids of all items in the index."""
        return self._vectors.item_ids()

    def vector(self, item_id: str) -> np.ndarray | None:
        """Return a copy of the item's unit vector, or None if unknown."""
        return self._vectors.vector(item_id)

    def vectors(self, item_ids: Sequence[str], *, fill_missing: bool = False) -> np.ndarray:
        """Vectors of the known items, in order; unknown ids are skipped.

        With ``fill_missing`` the result has one row per id instead, zeros for
        unknown ones, so it stays aligned with per-item weights.
        """
        return self._vectors.vectors(item_ids, fill_missing=fill_missing)

    # Rows are stable until the next upsert/remove (see indexer.rows).

    def rows(self, item_ids: Iterable[str]) -> np.ndarray:
        """Store row of each id (int64), -1 for unknown ids."""
        return self._vectors.rows(item_ids)

    def ids_at(self, rows: np.ndarray) -> list[str]:
        """Item id of each live row (rows from :meth:`rows` or :meth:`search_rows`)."""
        return self._vectors.ids_at(rows)

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """Vector of each row; zeros where the row is -1 (unknown item)."""
        return self._vectors.vectors_at(rows)

    def live_at(self, rows: np.ndarray) -> np.ndarray:
        """Whether each row still holds a catalog item."""
        return self._vectors.live_at(rows)

    @property
    def dim(self) -> int:
        """Vector length."""
        return self._dim

    @property
    def factory(self) -> str:
        """The factory string asked for (may be ``auto``)."""
        return self._factory

    @property
    def active_factory(self) -> str:
        """The factory string of the FAISS index serving searches now."""
        return self._built_factory

    def tune(self, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Change search breadth without rebuilding (IVF lists probed, HNSW breadth)."""
        if nprobe is not None:
            self._nprobe = self._options["nprobe"] = nprobe
        if ef_search is not None:
            self._ef_search = self._options["ef_search"] = ef_search
        self._configure(self._index)

    # --- search ---------------------------------------------------------------

    def search(
        self, query_vectors: np.ndarray, k: int, exclude: Sequence[set[str]] | None = None
    ) -> list[list[Hit]]:
        """Top-``k`` ``(item_id, cosine)`` per query, best first, skipping ``exclude[i]``."""
        return [
            list(zip(self.ids_at(rows), scores.tolist(), strict=True))
            for rows, scores in self.search_rows(query_vectors, k, exclude)
        ]

    def search_rows(
        self, query_vectors: np.ndarray, k: int, exclude: Sequence[set[str]] | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Like :meth:`search`, as (store rows, cosines) arrays per query.

        One FAISS call serves the whole batch. It over-fetches by the tombstone
        share and by up to ``k / 2`` excluded items (a user's seen items are
        mostly not among their nearest ones, and a fetch as deep as the largest
        seen set made every search 3x dearer); queries still short of ``k``
        are asked again, deeper, while the index holds more.
        """
        queries = as_matrix(query_vectors, self._dim, "query_vectors")
        queries = unit_rows(queries) if self._normalise else np.ascontiguousarray(queries)
        if exclude is not None and len(exclude) != len(queries):
            raise ValueError(f"{len(exclude)} exclude sets for {len(queries)} queries")
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        results: list[tuple[np.ndarray, np.ndarray]] = [empty] * len(queries)
        total = int(self._index.ntotal)
        if k < 1 or total == 0 or len(queries) == 0:
            return results
        excluded = [self._excluded_rows(seen) for seen in exclude] if exclude else None
        largest_exclude = (
            max((len(rows) for rows in excluded if rows is not None), default=0) if excluded else 0
        )
        tombstone_margin = int(np.ceil(k * self._tombstones / total))
        fetch = k + min(largest_exclude, k // 2) + tombstone_margin
        pending = np.arange(len(queries))
        while len(pending):
            fetch = min(fetch, total)
            scores, rows = self._search_rows(queries[pending], fetch)
            short = []
            for query, query_scores, query_rows in zip(pending.tolist(), scores, rows, strict=True):
                seen_rows = excluded[query] if excluded is not None else None
                results[query] = self._kept(query_scores, query_rows, seen_rows, k)
                if len(results[query][0]) < k and fetch < total:
                    short.append(query)
            pending = np.asarray(short, dtype=np.int64)
            fetch *= 2
        return results

    def _excluded_rows(self, seen: set[str] | None) -> np.ndarray | None:
        if not seen:
            return None
        rows = self.rows(seen)
        return rows[rows >= 0]

    def _search_rows(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        # A few queries gain nothing from OpenMP threads and, on a busy 2-core
        # box, lose 3x to their spin-waiting (measured: docs/benchmarks.md).
        faiss.omp_set_num_threads(1 if len(queries) < _THREADED_FROM else _MAX_THREADS)
        # A process-wide FAISS setting, so it is set for this index's width each time.
        faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES * self._dim
        if self._is_hnsw:
            # A breadth of the fetch depth measured recall@100 0.995 on 100k
            # clustered 384-d items for user-interest queries, at half the
            # cost of twice the depth (docs/benchmarks.md).
            # faiss's bundled type stubs lack SearchParametersHNSW; it exists at runtime.
            params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
                efSearch=max(self._ef_search, fetch)
            )
            return self._index.search(queries, fetch, params=params)
        return self._index.search(queries, fetch)

    def _kept(
        self, scores: np.ndarray, rows: np.ndarray, seen_rows: np.ndarray | None, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # Vectorised: a per-row Python loop over the fetched rows was the top
        # cost of ranking a batch (see docs/benchmarks.md).
        valid = self._vectors.live_at(rows)
        if seen_rows is not None and len(seen_rows):
            valid &= ~np.isin(rows, seen_rows)
        return rows[valid][:k], scores[valid][:k]

    # --- snapshots (indexer.snapshots writes and reads them) -----------------

    def state(self) -> IndexState:
        """Everything a snapshot must hold to rebuild this index exactly."""
        store, row_ids = self._vectors.snapshot()
        return IndexState(
            dim=self._dim,
            factory=self._factory,
            options=dict(self._options),
            store=store,
            row_ids=row_ids,
            faiss_index=self._index,
            built_factory=self._built_factory,
            tombstones=self._tombstones,
        )

    @classmethod
    def from_state(cls, state: IndexState) -> ItemIndex:
        """The index a :meth:`state` describes (arrays are taken, not copied)."""
        index = cls(state.dim, state.factory, **state.options)
        index._vectors = VectorRows.restored(state.store, state.row_ids)
        index._index, index._built_factory = state.faiss_index, state.built_factory
        index._tombstones = state.tombstones
        index._configure(state.faiss_index)
        return index

    # --- storage and rebuilds -------------------------------------------------

    def _retire(self, rows: list[int]) -> None:
        """Mark rows dead; drop them from FAISS when the index can remove ids."""
        if not rows:
            return
        row_array = np.asarray(rows, dtype=np.int64)
        self._vectors.retire(row_array)
        if self._can_remove:
            try:
                self._index.remove_ids(row_array)
                return
            except RuntimeError:  # HNSW and other graph indexes cannot remove ids
                self._can_remove = False
        self._tombstones += len(rows)

    def _maybe_rebuild(self) -> bool:
        """Rebuild when the wanted index kind changed or retired rows piled up."""
        desired = desired_factory(
            self._factory,
            self._built_factory,
            self._vectors.live_count,
            approximate_from=self._approximate_from,
            train_size=self._train_size,
        )
        total = self._vectors.total
        retired = total - self._vectors.live_count
        if desired == self._built_factory and retired <= self._max_deleted_fraction * total:
            return False
        self._rebuild(desired)
        return True

    def _rebuild(self, factory: str) -> None:
        started = time.perf_counter()
        live = self._vectors.compact()
        self._index = self._new_index(factory)
        if not self._index.is_trained:
            self._index.train(live)
        self._index.add_with_ids(live, np.arange(len(live), dtype=np.int64))
        self._built_factory, self._tombstones = factory, 0
        logger.info(
            "item index rebuilt as %s with %d items in %.2fs",
            factory,
            len(live),
            time.perf_counter() - started,
        )

    def _new_index(self, factory: str) -> Any:
        index = new_faiss_index(self._dim, factory)
        self._configure(index)
        self._can_remove = True
        return index

    def _configure(self, index: Any) -> None:
        self._is_hnsw = configure(
            index,
            ef_construction=self._ef_construction,
            ef_search=self._ef_search,
            nprobe=self._nprobe,
        )
