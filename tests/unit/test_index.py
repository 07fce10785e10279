"""ItemIndex: exact and approximate cosine search over a streaming catalog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexer.index import ItemIndex
from indexer.snapshots import load_index, save_index

DIM = 32

MakeVectors = Callable[..., np.ndarray]


@pytest.fixture
def make_vectors() -> MakeVectors:
    def make(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
        vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return make


def ids_for(n: int, prefix: str = "item") -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


def exact_top(items: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :k]


@pytest.fixture
def catalog(make_vectors: MakeVectors) -> tuple[ItemIndex, list[str], np.ndarray]:
    vectors = make_vectors(2_000)
    item_ids = ids_for(len(vectors))
    index = ItemIndex(DIM)
    index.upsert(item_ids, vectors)
    return index, item_ids, vectors


def test_flat_search_returns_exact_neighbours(catalog, make_vectors) -> None:
    index, item_ids, vectors = catalog
    queries = make_vectors(20, seed=1)

    results = index.search(queries, k=10)

    assert index.active_factory == "Flat"
    expected = exact_top(vectors, queries, 10)
    for hits, rows, query in zip(results, expected, queries, strict=True):
        assert [item_id for item_id, _ in hits] == [item_ids[row] for row in rows]
        np.testing.assert_allclose([s for _, s in hits], vectors[rows] @ query, atol=1e-5)


def test_upsert_replaces_an_items_vector(catalog, make_vectors) -> None:
    index, item_ids, vectors = catalog
    query = make_vectors(1, seed=2)
    moved = item_ids[exact_top(vectors, query, 2_000)[0, -1]]  # the farthest item

    index.upsert([moved], 3.0 * query)  # not unit length: the index normalises

    top_id, top_score = index.search(query, k=1)[0][0]
    assert (top_id, round(top_score, 5)) == (moved, 1.0)
    np.testing.assert_allclose(index.vector(moved), query[0], atol=1e-6)
    assert len(index) == len(item_ids)


def test_remove_makes_an_item_disappear(catalog) -> None:
    index, item_ids, vectors = catalog
    gone = item_ids[:10]

    assert index.remove([*gone, "never-added"]) == 10

    hits = index.search(vectors[:10], k=5)
    assert not {item_id for row in hits for item_id, _ in row} & set(gone)
    assert len(index) == len(item_ids) - 10
    assert gone[0] not in index and index.vector(gone[0]) is None


def test_exclude_skips_seen_items_and_still_returns_k(catalog, make_vectors) -> None:
    index, item_ids, vectors = catalog
    queries = make_vectors(3, seed=3)
    ranked = exact_top(vectors, queries, 15)
    seen = [{item_ids[row] for row in rows[:5]} for rows in ranked]

    results = index.search(queries, k=10, exclude=seen)

    for hits, rows in zip(results, ranked, strict=True):
        assert [item_id for item_id, _ in hits] == [item_ids[row] for row in rows[5:15]]


def test_vectors_pools_known_items_in_order(catalog) -> None:
    index, item_ids, vectors = catalog
    wanted = [item_ids[5], "unknown", item_ids[7]]

    np.testing.assert_array_equal(index.vectors(wanted), vectors[[5, 7]])
    aligned = index.vectors(wanted, fill_missing=True)
    assert aligned.shape == (3, DIM) and not aligned[1].any()


def test_auto_switches_to_hnsw_and_keeps_recall(make_vectors) -> None:
    vectors = make_vectors(20_000, dim=48)
    queries = make_vectors(200, dim=48, seed=4)
    item_ids = ids_for(len(vectors))
    index = ItemIndex(48, approximate_from=10_000)

    index.upsert(item_ids[:5_000], vectors[:5_000])
    assert index.active_factory == "Flat"
    index.upsert(item_ids[5_000:], vectors[5_000:])
    assert index.active_factory == "HNSW32"

    found = [[item_id for item_id, _ in hits] for hits in index.search(queries, k=10)]
    truth = [[item_ids[row] for row in rows] for rows in exact_top(vectors, queries, 10)]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95

    # HNSW cannot remove ids: removed items are filtered out, then compacted away.
    removed = set(found[0][:3])
    index.remove(removed)
    assert not removed & {item_id for item_id, _ in index.search(queries[:1], k=10)[0]}
    assert len(index.search(queries[:1], k=10)[0]) == 10


def test_hnsw_catalog_keeps_streaming_through_compaction(make_vectors, tmp_path: Path) -> None:
    vectors = make_vectors(400)
    item_ids = ids_for(len(vectors))
    index = ItemIndex(DIM, approximate_from=200)
    index.upsert(item_ids, vectors)
    query = make_vectors(1, seed=6)

    index.upsert([item_ids[0]], query)  # an update on a graph index
    index.remove(item_ids[100:250])  # past max_deleted_fraction: rebuilt without them

    assert index.active_factory == "HNSW32" and len(index) == 250
    hits = index.search(query, k=20)[0]
    assert hits[0][0] == item_ids[0] and len(hits) == 20
    assert not {item_id for item_id, _ in hits} & set(item_ids[100:250])
    index.remove(item_ids[250:260])  # tombstones, saved and loaded as such
    save_index(index, tmp_path)
    assert load_index(tmp_path).search(query, k=20) == index.search(query, k=20)


def test_trainable_index_serves_exact_until_trained(make_vectors) -> None:
    vectors = make_vectors(1_000)
    item_ids = ids_for(len(vectors))
    index = ItemIndex(DIM, "IVF8,Flat", nprobe=8, train_size=500)

    index.upsert(item_ids[:400], vectors[:400])
    assert index.active_factory == "Flat"
    index.upsert(item_ids[400:], vectors[400:])
    assert index.active_factory == "IVF8,Flat"

    # nprobe == nlist probes every list, so the IVF search is exact.
    hits = index.search(vectors[:1], k=5)[0]
    assert [item_id for item_id, _ in hits] == [
        item_ids[r] for r in exact_top(vectors, vectors[:1], 5)[0]
    ]
    index.remove([item_ids[0]])
    assert index.search(vectors[:1], k=1)[0][0][0] != item_ids[0]


def test_save_load_round_trip(catalog, make_vectors, tmp_path: Path) -> None:
    index, item_ids, _ = catalog
    index.remove(item_ids[:3])
    queries = make_vectors(5, seed=5)

    save_index(index, tmp_path)
    loaded = load_index(tmp_path)

    assert loaded.item_ids() == index.item_ids()
    assert loaded.search(queries, k=10) == index.search(queries, k=10)
    np.testing.assert_array_equal(loaded.vector(item_ids[3]), index.vector(item_ids[3]))
    loaded.upsert(["fresh"], queries[:1])  # the loaded index keeps streaming
    assert loaded.search(queries[:1], k=1)[0][0][0] == "fresh"


@pytest.mark.parametrize("file_name", ["index.faiss", "vectors.npy", "index.json"])
def test_corrupt_file_raises_value_error_naming_it(catalog, tmp_path: Path, file_name: str) -> None:
    index, _, _ = catalog
    save_index(index, tmp_path)
    target = tmp_path / file_name
    target.write_bytes(target.read_bytes()[:50])

    with pytest.raises(ValueError, match=file_name):
        load_index(tmp_path)


def test_mismatched_snapshot_file_raises_value_error(catalog, make_vectors, tmp_path) -> None:
    index, _, _ = catalog
    save_index(index, tmp_path / "a")
    other = ItemIndex(DIM)
    other.upsert(["x"], make_vectors(1))
    save_index(other, tmp_path / "b")
    (tmp_path / "a" / "vectors.npy").write_bytes((tmp_path / "b" / "vectors.npy").read_bytes())

    with pytest.raises(ValueError, match="vectors.npy"):
        load_index(tmp_path / "a")


def test_rejects_bad_input(catalog) -> None:
    index, _, _ = catalog
    with pytest.raises(ValueError, match="shape"):
        index.upsert(["a"], np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        index.upsert(["a"], np.full((1, DIM), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="factory"):
        ItemIndex(DIM, "NotAnIndex")
