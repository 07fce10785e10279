"""The sequence model as the live pipeline's encoder, retriever and scorer.

A model trained briefly on a generated folder whose users each love one genre,
a replica holding the real MiniLM vectors of its items, and the production
stage list: what a worker runs, without the broker.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.datasets import load_movielens_items
from indexer.encoder import TextEncoder
from indexer.index import ItemIndex
from indexer.replica import IndexReplica
from ranker.model.sequence import SequenceModel
from ranker.model.sequence_artifact import (
    SequenceArtifact,
    load_sequence_artifact,
    save_sequence_artifact,
)
from ranker.model.sequence_ensemble import ScoringModel, SequenceEnsemble
from ranker.model.sequence_input import SEQUENCE_EVENT_TYPES, History, Timeline
from ranker.model.sequence_live import LiveSequenceModel, SequenceServing
from ranker.pipeline.stage_list import build_pipeline
from ranker.service import RankingService
from ranker.state import Interaction
from ranker.training.sequence_train import catalog_scores
from ranker.trending import TrendingCounter
from streams.wire import Event, Item, ItemVector
from tests.factories import make_event
from tests.unit.click_factory import train_taste_sequence_model, write_taste_folder
from tests.unit.test_ranking_service import DictStore


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_taste_folder(tmp_path_factory.mktemp("taste"), users=48)


@pytest.fixture(scope="module")
def artifact(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> SequenceArtifact:
    out = train_taste_sequence_model(
        folder, tmp_path_factory.mktemp("model"), tmp_path_factory.mktemp("cache"), members=3
    )
    return load_sequence_artifact(out)


def test_the_live_tests_serve_an_ensemble_trained_on_a_small_folder(
    artifact: SequenceArtifact,
) -> None:
    # Three members trained in turn from one call: every test below serves the
    # sum of their scores through one index.
    assert isinstance(artifact.model, SequenceEnsemble)
    assert artifact.config["report"]["members"] == 3  # type: ignore[index]
    assert len(artifact.config["report"]["member_best_epochs"]) == 3  # type: ignore[index]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(device="cpu")


@pytest.fixture(scope="module")
def items(folder: Path) -> list[Item]:
    return load_movielens_items(folder)


def vectors_of(items: list[Item], encoder: TextEncoder) -> list[ItemVector]:
    encoded = encoder.encode([item.text() for item in items])
    return [
        ItemVector(item.item_id, vector, encoder.version, item.title, item.category)
        for item, vector in zip(items, encoded, strict=True)
    ]


class Holder:
    """The watcher's role: whichever artifact is loaded now."""

    def __init__(self, artifact: SequenceArtifact | None) -> None:
        self.current = artifact


def worker_service(
    items: list[Item], encoder: TextEncoder, holder: Holder
) -> tuple[RankingService, IndexReplica, SequenceServing]:
    replica = IndexReplica(ItemIndex(encoder.dim, "Flat"))
    replica.apply(vectors_of(items, encoder))
    serving = SequenceServing(replica, lambda: holder.current)
    trending = TrendingCounter(half_life_s=3600)
    service = RankingService(
        replica=replica,
        trending=trending,
        pipeline=build_pipeline(
            replica, trending, homepage_size=5, candidates_per_user=20, sequence=serving
        ),
        history_size=50,
        seen_size=200,
        recency_half_life=10.0,
    )
    return service, replica, serving


def homepage_after(service: RankingService, events: list[Event]) -> tuple[list[str], str]:
    outcome = asyncio.run(service.process(events, DictStore()))
    (homepage,) = outcome.homepages
    return [item.item_id for item in homepage.items], homepage.model_version


def genre_of(items: list[Item]) -> dict[str, str]:
    return {item.item_id: str(item.category) for item in items}


def test_a_genre_fan_gets_that_genre_ranked_by_the_sequence_model(
    artifact: SequenceArtifact, items: list[Item], encoder: TextEncoder
) -> None:
    service, _, _ = worker_service(items, encoder, Holder(artifact))
    genres = genre_of(items)
    for genre in ("Horror", "Comedy"):
        liked = [item.item_id for item in items if item.category == genre][:4]
        clicks = [
            make_event(f"fan-{genre}", item_id, ts=1000 * n) for n, item_id in enumerate(liked)
        ]
        shown, version = homepage_after(service, clicks)
        assert version == artifact.model_version
        assert not set(liked) & set(shown)
        # Diversity keeps a slot or two for other genres; the model fills the rest.
        assert sum(genres[item_id] == genre for item_id in shown) >= 3, (genre, shown)


def test_a_new_catalog_item_is_scored_from_its_text_as_soon_as_it_arrives(
    artifact: SequenceArtifact, items: list[Item], encoder: TextEncoder
) -> None:
    _, replica, serving = worker_service(items, encoder, Holder(artifact))
    live = serving.current()
    assert live is not None and len(live.index) == len(items)
    fresh = Item("new-horror", "The haunted crypt horror tale (2026)", category="Horror")
    assert fresh.item_id not in artifact.item_ids
    (vector,) = vectors_of([fresh], encoder)
    replica.apply([vector])
    live = serving.current()
    assert live is not None and fresh.item_id in live.index
    expected = live.text_only_vectors(np.asarray(vector.vector, dtype=np.float32)[None])[0]
    stored = live.index.vector(fresh.item_id)
    assert stored is not None
    np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-6)
    # A trained item keeps the vector it was trained with (its id row included).
    trained_id = artifact.item_ids[0]
    trained_vector = live.index.vector(trained_id)
    assert trained_vector is not None
    assert not np.allclose(
        trained_vector,
        live.text_only_vectors(replica.index.vectors([trained_id]))[0],
    )
    replica.remove([fresh.item_id, trained_id])
    live = serving.current()
    assert live is not None
    assert fresh.item_id not in live.index and trained_id not in live.index


def test_a_swapped_artifact_serves_from_the_next_batch_under_its_own_version(
    artifact: SequenceArtifact, items: list[Item], encoder: TextEncoder, tmp_path: Path
) -> None:
    holder = Holder(artifact)
    service, _, _ = worker_service(items, encoder, holder)
    horror = [item.item_id for item in items if item.category == "Horror"]
    _, version = homepage_after(service, [make_event("swap", horror[0], ts=1)])
    assert version == artifact.model_version
    save_sequence_artifact(
        artifact.model,
        artifact.item_ids,
        artifact.text_encoder_version,
        tmp_path / "v2",
        {"note": "second"},
    )
    holder.current = load_sequence_artifact(tmp_path / "v2")
    assert holder.current.model_version != artifact.model_version
    _, version = homepage_after(service, [make_event("swap", horror[1], ts=2)])
    assert version == holder.current.model_version


def test_without_a_model_or_a_known_history_the_wrapped_scorer_ranks(
    artifact: SequenceArtifact, items: list[Item], encoder: TextEncoder
) -> None:
    holder = Holder(None)
    service, _, _ = worker_service(items, encoder, holder)
    horror = [item.item_id for item in items if item.category == "Horror"]
    _, version = homepage_after(service, [make_event("early", horror[0], ts=1)])
    assert version.startswith("dot@")
    holder.current = artifact
    # Only an item the catalog does not hold: nothing for the model to read.
    _, version = homepage_after(service, [make_event("stranger", "not-in-catalog", ts=1)])
    assert version.startswith("dot@")


def with_learned_text_query(model: SequenceModel) -> SequenceModel:
    """``model`` plus a (random, non-zero) learned text-space query."""
    learned = SequenceModel(replace(model.config, text_query=True))
    learned.load_state_dict(model.state_dict(), strict=False)
    assert learned.text_query is not None
    torch.nn.init.normal_(learned.text_query.weight, std=0.1)
    return learned.eval()


@pytest.mark.parametrize(
    ("text_query", "decay"),
    [(False, 1.0), (True, 1.0), (False, 0.4)],
    ids=["profile", "learned-query", "recency-profile"],
)
def test_with_a_text_blend_live_scores_are_the_offline_scores(
    artifact: SequenceArtifact, text_query: bool, decay: float
) -> None:
    # [item vector, blend · text] · [user vector, text query] must be exactly
    # what evaluation ranks by, or the served model is not the measured one.
    model: ScoringModel = copy.deepcopy(artifact.model)
    if text_query:
        # The learned query is a single model's option: take one member.
        single = model.members[0] if isinstance(model, SequenceEnsemble) else model
        model = with_learned_text_query(single)  # type: ignore[arg-type]
    model.config = replace(model.config, text_blend=2.5, profile_decay=decay)
    live = LiveSequenceModel(replace(artifact, model=model))
    texts = model.items.text[1:].numpy()
    live.upsert(artifact.item_ids, texts)
    assert live.dim == model.config.vector_dim + texts.shape[1]
    rng = np.random.default_rng(0)
    histories = [
        [
            Interaction(artifact.item_ids[row], kind, 60_000 * n)
            for n, (row, kind) in enumerate(
                zip(
                    rng.choice(len(artifact.item_ids), 6, replace=False),
                    rng.choice(["click", "view", "dislike"], 6),
                    strict=True,
                )
            )
        ]
        for _ in range(8)
    ]
    users = live.user_vectors(histories)
    assert users.positions == list(range(8))
    rows = live.index.rows(artifact.item_ids)
    live_scores = users.vectors @ live.index.vectors_at(rows).T
    history = History.from_timelines(
        [
            Timeline(
                np.array([artifact.item_ids.index(i.item_id) for i in h], dtype=np.int64),
                np.array([i.ts // 1000 for i in h], dtype=np.int64),
                np.array([SEQUENCE_EVENT_TYPES.index(i.type) for i in h], dtype=np.int8),
            )
            for h in histories
        ],
        6,
    )
    offline = catalog_scores(model, history)
    np.testing.assert_allclose(live_scores, offline, rtol=1e-4, atol=1e-4)
    text_part = catalog_scores(model, history, part="text")
    assert np.abs(2.5 * text_part).max() > 0.1  # the text term is really in there


def test_the_text_ann_searches_only_for_users_the_model_did_not_retrieve_for(
    artifact: SequenceArtifact, items: list[Item], encoder: TextEncoder
) -> None:
    holder = Holder(artifact)
    service, replica, _ = worker_service(items, encoder, holder)
    searched: list[int] = []
    search_rows = replica.index.search_rows

    def counting(
        queries: np.ndarray, k: int, exclude: Sequence[set[str]] | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        searched.append(len(queries))
        return search_rows(queries, k, exclude=exclude)

    replica.index.search_rows = counting  # type: ignore[method-assign,assignment]
    liked = [item.item_id for item in items if item.category == "Comedy"][:3]
    clicks = [make_event("fan", item_id, ts=1000 * n) for n, item_id in enumerate(liked)]

    shown, version = homepage_after(service, clicks)
    assert version == artifact.model_version and len(shown) == 5
    assert searched == []  # the model's own index found the candidates

    holder.current = None  # no model: the text ANN ranks the same user again
    shown, _ = homepage_after(service, clicks)
    assert searched == [1] and len(shown) == 5
