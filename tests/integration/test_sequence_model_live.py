"""The trained sequence model in a live worker on the real broker.

It ranks with its own version on every ranking, serves a genre fan that genre,
a hot swap takes over without re-publishing the catalog, and a corrupt artifact
leaves the running model in place.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.datasets import load_movielens_items
from ranker.model.artifacts import WEIGHTS_FILE
from ranker.model.sequence_artifact import load_sequence_artifact, save_sequence_artifact
from streams.admin import topic_size
from tests.integration.test_click_model_live import newer_than, ranking_after, vector_versions
from tests.live import LiveEnv, fresh_env, produce, running_worker, wait_for
from tests.unit.click_factory import train_taste_sequence_model, write_taste_folder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = write_taste_folder(tmp_path_factory.mktemp("taste"), users=48)
    out = train_taste_sequence_model(
        data, tmp_path_factory.mktemp("models") / "v1", tmp_path_factory.mktemp("cache")
    )
    return out, data


@pytest.fixture
def live(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LiveEnv]:
    yield fresh_env(kafka_bootstrap, tmp_path / "state")


def test_sequence_model_ranks_live_and_is_hot_swapped(
    live: LiveEnv,
    trained: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_dir, data = trained
    models = tmp_path / "models"
    shutil.copytree(first_dir, models / "v1")
    first = load_sequence_artifact(models / "v1")
    items = load_movielens_items(data)
    genre = {item.item_id: item.category for item in items}
    horror = [item.item_id for item in items if item.category == "Horror"]
    monkeypatch.setenv("HOMEFEED_CLICK_MODEL_DIR", str(models))
    monkeypatch.setenv("HOMEFEED_MODEL_POLL_S", "1")
    log_path = tmp_path / "worker.log"
    with running_worker(live, log_path):
        produce(
            live.settings.bootstrap_servers,
            live.topics.items,
            [(item.item_id.encode(), item.encode()) for item in items],
        )
        wait_for(
            lambda: len(vector_versions(live)) == len(items),
            120,
            "the catalog's text vectors",
        )
        # The sequence model reads the plain text vectors: nothing is re-encoded for it.
        (text_version,) = set(vector_versions(live).values())
        assert not text_version.startswith("seq-")
        ranking = ranking_after(live, "fan", horror[:4], 1_000_000_000_000)
        assert ranking.model_version == first.model_version
        shown = [item.item_id for item in ranking.items]
        # Every horror film the fan has not seen is on the page, mostly at the top
        # (the diversity cap and exploration keep a few slots for other genres).
        assert set(horror[4:]) <= set(shown), shown
        assert sum(genre[item_id] == "Horror" for item_id in shown[:5]) >= 4, shown

        published = topic_size(live.settings.kafka, live.topics.item_vectors)
        second = save_sequence_artifact(
            first.model, first.item_ids, first.text_encoder_version, models / "v2", {"n": 2}
        )
        newer_than(models / "v2", models / "v1")
        wait_for(
            lambda: (
                ranking_after(live, "fan", horror[4:5], 1_000_000_100_000).model_version == second
            ),
            60,
            "rankings from the new model, without a restart",
        )
        assert topic_size(live.settings.kafka, live.topics.item_vectors) == published

        broken = models / "v3"
        shutil.copytree(models / "v2", broken)
        with (broken / WEIGHTS_FILE).open("r+b") as handle:
            handle.seek(200)
            handle.write(b"\x00corrupt\x00")
        newer_than(broken, models / "v2")
        wait_for(
            lambda: f"not loading model {broken}" in log_path.read_text(),
            60,
            "the worker to refuse the broken artifact",
        )
        assert ranking_after(live, "fan", horror[5:6], 1_000_000_200_000).model_version == second
