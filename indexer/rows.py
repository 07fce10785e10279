"""The vector store behind :class:`indexer.index.ItemIndex`: one row per vector ever added.

Rows are positions in one float32 array. An update appends a fresh row and
retires the old one, so row numbers stay stable until the next compaction:
FAISS indexes are keyed by them, and callers may hold rows for one
synchronous ranking pass instead of going through the id → row dictionary on
every stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class VectorRows:
    """Unit vectors by row, with the item id each live row holds."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._store = np.empty((0, dim), dtype=np.float32)
        self._live = np.empty(0, dtype=bool)
        self._row_ids: list[str | None] = []  # row -> item id; None once retired
        self._rows: dict[str, int] = {}  # item id -> its live row

    @classmethod
    def restored(cls, store: np.ndarray, row_ids: list[str | None]) -> VectorRows:
        """Rows as a snapshot stored them (``store`` is taken, not copied)."""
        rows = cls(store.shape[1])
        rows._store, rows._row_ids = np.ascontiguousarray(store), row_ids
        rows._live = np.fromiter((item_id is not None for item_id in row_ids), bool, len(row_ids))
        rows._rows = {item_id: row for row, item_id in enumerate(row_ids) if item_id is not None}
        return rows

    # --- changes --------------------------------------------------------------

    def append(self, item_ids: Sequence[str], unit_vectors: np.ndarray) -> np.ndarray:
        """Give each (distinct) id a fresh row; returns the new rows. Old rows are not retired."""
        first = len(self._row_ids)
        self._reserve(first + len(item_ids))
        self._store[first : first + len(item_ids)] = unit_vectors
        self._live[first : first + len(item_ids)] = True
        self._row_ids.extend(item_ids)
        self._rows.update(zip(item_ids, range(first, first + len(item_ids)), strict=True))
        return np.arange(first, first + len(item_ids), dtype=np.int64)

    def live_row(self, item_id: str) -> int | None:
        """The item's current row, if it has one."""
        return self._rows.get(item_id)

    def forget(self, item_ids: Iterable[str]) -> list[int]:
        """Drop the ids from the lookup; returns their rows (to be :meth:`retire`-d)."""
        popped = (self._rows.pop(item_id, None) for item_id in item_ids)
        return [row for row in popped if row is not None]

    def retire(self, rows: np.ndarray) -> None:
        """Mark rows dead; they keep their place until :meth:`compact`."""
        self._live[rows] = False
        for row in rows.tolist():
            self._row_ids[row] = None

    def compact(self) -> np.ndarray:
        """Renumber the live rows 0..n-1, dropping retired ones; returns the live vectors."""
        live_rows = np.flatnonzero(self._live[: len(self._row_ids)])
        self._store = np.ascontiguousarray(self._store[live_rows])
        self._live = np.ones(len(live_rows), dtype=bool)
        self._row_ids = [self._row_ids[row] for row in live_rows.tolist()]
        self._rows = {
            item_id: row for row, item_id in enumerate(self._row_ids) if item_id is not None
        }
        return self._store

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._store):
            return
        capacity = max(rows, 2 * len(self._store), 1024)
        store = np.empty((capacity, self.dim), dtype=np.float32)
        store[: len(self._row_ids)] = self._store[: len(self._row_ids)]
        live = np.zeros(capacity, dtype=bool)
        live[: len(self._row_ids)] = self._live[: len(self._row_ids)]
        self._store, self._live = store, live

    # --- sizes ----------------------------------------------------------------

    @property
    def live_count(self) -> int:
        """Items with a live row."""
        return len(self._rows)

    @property
    def total(self) -> int:
        """Rows in use, live or retired."""
        return len(self._row_ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def item_ids(self) -> list[str]:
        """Ids of all live items."""
        return list(self._rows)

    def snapshot(self) -> tuple[np.ndarray, list[str | None]]:
        """(vectors of every row in use, row -> item id) for a snapshot."""
        return self._store[: len(self._row_ids)], list(self._row_ids)

    # --- lookups --------------------------------------------------------------

    def rows(self, item_ids: Iterable[str]) -> np.ndarray:
        """Row of each id (int64), -1 for unknown ids."""
        get = self._rows.get
        return np.fromiter((get(item_id, -1) for item_id in item_ids), dtype=np.int64)

    def ids_at(self, rows: np.ndarray) -> list[str]:
        """Item id of each live row."""
        row_ids = self._row_ids
        return [row_ids[row] for row in rows.tolist()]  # type: ignore[misc]

    def vector(self, item_id: str) -> np.ndarray | None:
        """A copy of the item's vector, or None if unknown."""
        row = self._rows.get(item_id)
        return None if row is None else self._store[row].copy()

    def vectors(self, item_ids: Sequence[str], *, fill_missing: bool) -> np.ndarray:
        """Vectors of the known ids in order (zeros for unknown ones with ``fill_missing``)."""
        rows = self.rows(item_ids)
        known = rows >= 0
        if known.all():  # the common case: one gather, no mask copies
            return self._store[rows]
        if not fill_missing:
            return self._store[rows[known]]
        return self.vectors_at(rows)

    def vectors_at(self, rows: np.ndarray) -> np.ndarray:
        """Vector of each row; zeros where the row is -1 (unknown item)."""
        if len(rows) and rows.min() >= 0:
            return self._store[rows]
        result = np.zeros((len(rows), self.dim), dtype=np.float32)
        known = rows >= 0
        result[known] = self._store[rows[known]]
        return result

    def live_at(self, rows: np.ndarray) -> np.ndarray:
        """Whether each row (-1 allowed) still holds a catalog item."""
        result = rows >= 0
        result[result] = self._live[rows[result]]
        return result


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so inner product is cosine."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)


def as_matrix(vectors: np.ndarray, dim: int, name: str) -> np.ndarray:
    """``vectors`` as a float32 ``(n, dim)`` matrix (one vector becomes one row)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {matrix.shape}")
    return matrix
