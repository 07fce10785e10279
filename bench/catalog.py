"""Benchmark catalogs: real item texts, their BERT vectors, and larger catalogs derived from them.

The shared data holds ~10k real items (9,742 MovieLens movies, 500 MSN
articles). Larger catalogs keep their geometry: each derived vector is a real
item vector plus Gaussian noise, renormalised, so neighbourhoods are clustered
the way real embeddings are (uniform random vectors would flatter nothing and
mislead graph indexes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from streams.settings import DEFAULT_DATA_DIR, DEFAULT_DATASETS_DIR
from streams.wire import Item

log = logging.getLogger(__name__)

SHARED_DATA = DEFAULT_DATASETS_DIR.resolve()
MOVIELENS = SHARED_DATA / "movielens-ml-latest-small"
MSN = SHARED_DATA / "msn-news-sample" / "DocFeatures.tsv"
CACHE_DIR = DEFAULT_DATA_DIR.resolve() / "bench"
# Noise per coordinate for derived items: the cosine of a derived vector to its
# real parent is about 1/sqrt(1 + dim * noise**2) ≈ 0.85 at 384-d.
DERIVED_NOISE = 0.03


def real_items() -> list[Item]:
    """The real catalog items: MSN articles and MovieLens movies."""
    from indexer.datasets import load_movielens_items, load_msn_items

    return load_msn_items(MSN) + load_movielens_items(MOVIELENS)


def real_texts(items: list[Item] | None = None) -> list[str]:
    """The texts the indexer encodes for the real items (title, category, abstract)."""
    return [item.text() for item in (items if items is not None else real_items())]


def real_item_vectors(cache_dir: Path = CACHE_DIR) -> np.ndarray:
    """BERT vectors of the real items, encoded once and cached as ``.npy``."""
    cache = cache_dir / "real-item-vectors.npy"
    if cache.exists():
        return np.load(cache)
    from indexer.encoder import TextEncoder

    texts = real_texts()
    log.info("encoding %d real item texts once (cached in %s)", len(texts), cache)
    vectors = TextEncoder().encode(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def derived_vectors(
    parents: np.ndarray, n: int, *, noise: float = DERIVED_NOISE, seed: int = 0
) -> np.ndarray:
    """``n`` unit vectors, each a random parent plus Gaussian noise (float32)."""
    return derived_with_parents(parents, n, noise=noise, seed=seed)[0]


def derived_with_parents(
    parents: np.ndarray, n: int, *, noise: float = DERIVED_NOISE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Derived unit vectors and, per vector, the row of the parent it came from."""
    rng = np.random.default_rng(seed)
    dim = parents.shape[1]
    vectors = np.empty((n, dim), dtype=np.float32)
    parent_rows = np.empty(n, dtype=np.int64)
    chunk = 100_000  # bounded temporaries for the 1M catalog
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        picks = rng.integers(0, len(parents), stop - start)
        parent_rows[start:stop] = picks
        block = parents[picks] + noise * rng.standard_normal((stop - start, dim), np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[start:stop] = block
    return vectors, parent_rows


def clustered_vectors(n: int, dim: int, *, clusters: int = 1000, seed: int = 0) -> np.ndarray:
    """Clustered Gaussian unit vectors for when no real vectors are at hand (tests)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return derived_vectors(centres, n, noise=1.0 / np.sqrt(dim), seed=seed + 1)


def catalog_vectors(n: int, *, dim: int = 384, seed: int = 0, real: bool = True) -> np.ndarray:
    """A catalog of ``n`` vectors: derived from real BERT vectors, or synthetic clusters."""
    if real and dim == 384:
        return derived_vectors(real_item_vectors(), n, seed=seed)
    return clustered_vectors(n, dim, seed=seed)


def derived_catalog(n: int, *, seed: int = 0) -> tuple[np.ndarray, list[str], list[str | None]]:
    """Vectors, titles and categories of ``n`` items derived from the real ones.

    Each derived item carries its parent's category, so category rules
    (diversity) see the real mix instead of one category for everything.
    """
    items = real_items()
    vectors, parents = derived_with_parents(real_item_vectors(), n, seed=seed)
    titles = [f"{items[row].title} #{number}" for number, row in enumerate(parents.tolist())]
    categories = [items[row].category for row in parents.tolist()]
    return vectors, titles, categories
