"""Which FAISS index serves a catalog, and how it is built and tuned.

Indexes are made from factory strings (``"Flat"``, ``"HNSW32"``,
``"IVF1024,Flat"``), or ``auto``: exact below a catalog size, HNSW32 above.
"""

from __future__ import annotations

from typing import Any

import faiss

AUTO = "auto"
EXACT_FACTORY = "Flat"
APPROXIMATE_FACTORY = "HNSW32"
# FAISS warns below 39 training points per centroid; PQ codebooks have 256.
_POINTS_PER_CENTROID = 39
_PQ_CENTROIDS = 256


def train_size_for(dim: int, factory: str, train_size: int | None) -> int:
    """Live items a trainable factory needs before it is trained; 0 for untrained kinds.

    Raises ValueError for a factory string FAISS does not know.
    """
    if factory == AUTO:
        return 0
    try:
        probe = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        raise ValueError(f"invalid FAISS factory string {factory!r}") from error
    if probe.is_trained:
        return 0
    if train_size:
        return train_size
    ivf = faiss.try_extract_index_ivf(probe)
    if ivf is not None:
        return _POINTS_PER_CENTROID * int(ivf.nlist)
    return _POINTS_PER_CENTROID * _PQ_CENTROIDS


def desired_factory(
    asked: str, built: str, live: int, *, approximate_from: int, train_size: int
) -> str:
    """The index kind a catalog of ``live`` items should be served by now."""
    if asked == AUTO:
        # Hysteresis: a catalog hovering at the threshold must not flip-flop.
        switch_at = approximate_from
        if built == APPROXIMATE_FACTORY:
            switch_at //= 2
        return APPROXIMATE_FACTORY if live >= switch_at else EXACT_FACTORY
    if train_size and built != asked:
        return asked if live >= train_size else EXACT_FACTORY
    return asked


def new_faiss_index(dim: int, factory: str) -> Any:
    """An empty cosine (inner-product) index keyed by our row numbers."""
    # IDMap (not IDMap2): our own store already serves vectors back.
    return faiss.index_factory(dim, f"IDMap,{factory}", faiss.METRIC_INNER_PRODUCT)


def configure(index: Any, *, ef_construction: int, ef_search: int, nprobe: int | None) -> bool:
    """Set HNSW breadths and IVF lists probed on ``index``; True when it is HNSW."""
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efConstruction = ef_construction
        inner.hnsw.efSearch = ef_search
        return True
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is not None:
        ivf.nprobe = nprobe or max(1, ivf.nlist // 16)
    return False
