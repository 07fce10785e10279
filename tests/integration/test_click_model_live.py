"""The trained click model in a live worker: it scores, it is swapped without a
restart, and a corrupt artifact leaves the running model in place."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from indexer.datasets import load_movielens_items
from indexer.encoder import default_model_dir
from ranker.model.artifacts import WEIGHTS_FILE, save_artifact
from ranker.model.click_model import ClickModelConfig
from ranker.model.model_watch import COMPLETE_MARKER
from ranker.training.train import TrainConfig, prepare, train_click_model
from streams.wire import ItemVector, Ranking
from tests.factories import make_event
from tests.integration.test_pipeline import send_events, wait_for_ranking
from tests.live import (
    LiveEnv,
    fresh_env,
    produce,
    read_to_end,
    running_worker,
    wait_for,
)
from tests.unit.click_factory import write_taste_folder

pytestmark = pytest.mark.integration

TINY = TrainConfig(
    epochs=2,
    examples_per_epoch=192,
    batch_size=32,
    negatives=3,
    val_lists=200,
    patience=2,
    threads=1,
    device="cpu",
)


def save(model: object, folder: Path, note: str) -> str:
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir())
    return save_artifact(model, tokenizer, folder, {"note": note})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    data = write_taste_folder(tmp_path_factory.mktemp("taste"))
    model, _, _ = train_click_model(
        prepare(data, "temporal"),
        ClickModelConfig(max_text_tokens=24),
        TINY,
        cache_dir=tmp_path_factory.mktemp("cache"),
        progress=False,
    )
    return model, data


def vector_versions(live: LiveEnv) -> dict[str, str]:
    latest: dict[str, str] = {}
    for key, value in read_to_end(live.settings.bootstrap_servers, live.topics.item_vectors):
        if key and value:
            latest[key.decode()] = ItemVector.decode(value).encoder_version
    return latest


def ranking_after(live: LiveEnv, user: str, items: list[str], ts: int) -> Ranking:
    """The user's ranking made from the last of clicks on ``items``."""
    clicks = [make_event(user, item, ts=ts + n) for n, item in enumerate(items)]
    send_events(live, clicks)
    return wait_for_ranking(live, user, clicks[-1].event_id)


@pytest.fixture
def live(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LiveEnv]:
    yield fresh_env(kafka_bootstrap, tmp_path / "state")


def test_model_scores_live_and_is_hot_swapped(
    live: LiveEnv, trained: tuple[object, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = trained
    models = tmp_path / "models"
    first = save(model, models / "v1", "first")
    items = load_movielens_items(data)
    horror = [item.item_id for item in items if item.category == "Horror"]
    env_extra = {"HOMEFEED_CLICK_MODEL_DIR": str(models), "HOMEFEED_MODEL_POLL_S": "1"}
    for name, value in env_extra.items():
        monkeypatch.setenv(name, value)
    with running_worker(live, tmp_path / "worker.log"):
        produce(
            live.settings.bootstrap_servers,
            live.topics.items,
            [(item.item_id.encode(), item.encode()) for item in items],
        )
        wait_for(
            lambda: (
                set(vector_versions(live).values()) == {first}
                and len(vector_versions(live)) == len(items)
            ),
            120,
            "the catalog encoded by the model's item tower",
        )
        assert ranking_after(live, "fan", horror[:3], 1_000_000_000_000).model_version == first

        second = save(model, models / "v2", "second")
        newer_than(models / "v2", models / "v1")
        assert second != first
        wait_for(
            lambda: set(vector_versions(live).values()) == {second},
            120,
            "the catalog re-encoded for the new model",
        )
        wait_for(
            lambda: (
                ranking_after(live, "fan", horror[3:4], 1_000_000_100_000).model_version == second
            ),
            60,
            "rankings from the new model, without a restart",
        )

        broken = models / "v3"
        shutil.copytree(models / "v2", broken)
        with (broken / WEIGHTS_FILE).open("r+b") as handle:
            handle.seek(200)
            handle.write(b"\x00corrupt\x00")
        newer_than(broken, models / "v2")
        log_path = tmp_path / "worker.log"
        wait_for(
            lambda: f"not loading model {broken}" in log_path.read_text(),
            60,
            "the worker to refuse the broken artifact",
        )
        assert ranking_after(live, "fan", horror[4:5], 1_000_000_200_000).model_version == second


def newer_than(artifact: Path, previous: Path) -> None:
    """Make ``artifact`` look newer on disk than ``previous`` (the watcher compares mtimes)."""
    stamp = (previous / COMPLETE_MARKER).stat().st_mtime + 10
    os.utime(artifact / COMPLETE_MARKER, (stamp, stamp))
