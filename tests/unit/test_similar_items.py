"""Similar items: neighbours share a title's genre far above the base rate, text or model."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer.datasets import load_movielens_items
from indexer.encoder import TextEncoder
from ranker.model.sequence_artifact import SequenceArtifact, load_sequence_artifact
from ranker.model.similar_items import SimilarItems
from streams.homepage.app import build_app, new_state
from streams.homepage.similar import SimilarService
from streams.settings import Settings
from streams.wire import Item, ItemVector
from tests.factories import msn_items
from tests.unit.click_factory import train_taste_sequence_model, write_taste_folder
from tests.unit.test_homepage_app import MemoryEventSink


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(device="cpu")


def vectors_of(items: list[Item], encoder: TextEncoder) -> list[ItemVector]:
    encoded = encoder.encode([item.text() for item in items])
    return [
        ItemVector(item.item_id, vector, encoder.version, item.title, item.category)
        for item, vector in zip(items, encoded, strict=True)
    ]


def same_category_share(similar: SimilarItems, items: list[Item], k: int) -> tuple[float, float]:
    """(share of neighbours in the item's category, that share for random pairs)."""
    category = {item.item_id: item.category for item in items}
    counts = Counter(category.values())
    hits = total = 0
    for item in items:
        neighbours = similar.similar(item.item_id, k) or []
        hits += sum(category[other] == item.category for other, _ in neighbours)
        total += len(neighbours)
    base = sum(n * (n - 1) for n in counts.values()) / (len(items) * (len(items) - 1))
    return hits / total, base


def test_text_neighbours_of_news_share_its_category(encoder: TextEncoder) -> None:
    items = msn_items()
    service = SimilarService()
    service.apply(vectors_of(items, encoder))
    version, hits = service.similar(items[0].item_id, 5)
    assert version == encoder.version
    assert hits is not None and len(hits) == 5
    assert items[0].item_id not in {item_id for item_id, _ in hits}
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)
    share, base = same_category_share(service._items, items, 10)
    assert share > 3 * base, (share, base)


@pytest.fixture(scope="module")
def taste(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Item], SequenceArtifact]:
    folder = write_taste_folder(tmp_path_factory.mktemp("taste"), users=48)
    out = train_taste_sequence_model(
        folder, tmp_path_factory.mktemp("model"), tmp_path_factory.mktemp("cache")
    )
    return load_movielens_items(folder), load_sequence_artifact(out)


def test_model_neighbours_follow_what_users_watch_together(
    taste: tuple[list[Item], SequenceArtifact], encoder: TextEncoder
) -> None:
    items, artifact = taste
    similar = SimilarItems()
    vectors = vectors_of(items, encoder)
    similar.upsert(
        [v.item_id for v in vectors], np.stack([v.vector for v in vectors]), encoder.version
    )
    similar.use_model(artifact)
    assert similar.version == artifact.model_version
    share, base = same_category_share(similar, items, 5)
    # Each taste-folder user loves one genre: the model's item vectors group by it.
    assert share > 3 * base, (share, base)

    # A deleted item is nobody's neighbour any more; an unknown one has none.
    gone = items[0].item_id
    neighbour_of_gone = (similar.similar(gone, 1) or [("", 0.0)])[0][0]
    similar.remove([gone])
    assert similar.similar(gone, 5) is None
    assert gone not in {item_id for item_id, _ in similar.similar(neighbour_of_gone, 50) or []}
    similar.use_model(None)
    assert similar.version == encoder.version


def test_similar_endpoint_answers_with_titles_and_refuses_unknown_items(
    encoder: TextEncoder,
) -> None:
    settings = Settings()
    state = new_state(settings)
    items = msn_items()[:50]
    vectors = vectors_of(items, encoder)
    for vector in vectors:
        state.catalog.put(vector.item_id, vector.title, vector.category)
    state.similar.apply(vectors)
    app = build_app(settings, state=state, sink=MemoryEventSink(), follow_topics=False)
    with TestClient(app) as client:
        answer = client.get(f"/v1/items/{items[0].item_id}/similar", params={"limit": 3})
        assert answer.status_code == 200
        body = answer.json()
        assert body["title"] == items[0].title and body["model_version"] == encoder.version
        assert len(body["items"]) == 3
        assert all(entry["title"] and entry["category"] for entry in body["items"])
        assert client.get("/v1/items/nope/similar").status_code == 404
        assert client.get(f"/v1/items/{items[0].item_id}/similar?limit=0").status_code == 422
