"""An A/B experiment in a live worker: each user ranked by their variant, stable across restarts.

The variants are the trained sequence model (a watched folder) and the dot
product, 50/50. Every ranking says its variant; the model's users get the
model's version, the others ``dot@…``; after a restart with the model's share
raised, nobody who had the model loses it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.datasets import load_movielens_items
from ranker.experiments import experiment_from
from ranker.model.sequence_artifact import load_sequence_artifact
from streams.follow import decoded_rankings
from streams.wire import Ranking
from tests.factories import make_event
from tests.integration.test_click_model_live import vector_versions
from tests.integration.test_sequence_model_live import trained  # noqa: F401 (fixture)
from tests.live import LiveEnv, TopicReader, fresh_env, produce, running_worker, wait_for

pytestmark = pytest.mark.integration

USERS = [f"ab-{n}" for n in range(40)]
SALT = "live-test"


@pytest.fixture
def live(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LiveEnv]:
    yield fresh_env(kafka_bootstrap, tmp_path / "state")


def rank_everyone(live: LiveEnv, items: list[str], ts: int) -> dict[str, Ranking]:
    """One click per user; each user's ranking made from it."""
    clicks = [make_event(user, items[n % len(items)], ts=ts + n) for n, user in enumerate(USERS)]
    produce(
        live.settings.bootstrap_servers,
        live.topics.events,
        [(e.user_id.encode(), e.encode()) for e in clicks],
    )
    wanted = {click.event_id: click.user_id for click in clicks}
    found: dict[str, Ranking] = {}
    decoded = 0

    def all_ranked(records: list[tuple[bytes | None, bytes | None]]) -> bool:
        nonlocal decoded
        for ranking in decoded_rankings(value for _, value in records[decoded:]):
            if ranking.source_event_id in wanted:
                found[ranking.user_id] = ranking
        decoded = len(records)
        return len(found) == len(USERS)

    reader = TopicReader(live.settings.bootstrap_servers, live.topics.rankings)
    try:
        reader.read_until(all_ranked, 90)
    finally:
        reader.close()
    return found


def test_each_user_gets_their_variant_and_keeps_it(
    live: LiveEnv,
    trained: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model_dir, data = trained
    models = tmp_path / "models"
    shutil.copytree(model_dir, models / "v1")
    version = load_sequence_artifact(models / "v1").model_version
    items = load_movielens_items(data)
    declared = f"model={models}:1,dot=dot-product:1"
    experiment = experiment_from(SALT, declared)
    assert experiment is not None
    monkeypatch.setenv("HOMEFEED_EXPERIMENT_SALT", SALT)
    monkeypatch.setenv("HOMEFEED_EXPERIMENT_VARIANTS", declared)

    with running_worker(live, tmp_path / "worker-1.log"):
        produce(
            live.settings.bootstrap_servers,
            live.topics.items,
            [(item.item_id.encode(), item.encode()) for item in items],
        )
        wait_for(lambda: len(vector_versions(live)) == len(items), 120, "the catalog's vectors")
        first = rank_everyone(live, [item.item_id for item in items], 1_000_000_000_000)

    for user, ranking in first.items():
        assert ranking.variant == experiment.variant_of(user).name
        if ranking.variant == "model":
            assert ranking.model_version == version
        else:
            assert ranking.model_version.startswith("dot@"), ranking.model_version
    assert {ranking.variant for ranking in first.values()} == {"model", "dot"}

    # A restart with the model's share raised to 3:1: model users stay, some dot users move.
    monkeypatch.setenv("HOMEFEED_EXPERIMENT_VARIANTS", f"model={models}:3,dot=dot-product:1")
    with running_worker(live, tmp_path / "worker-2.log"):
        second = rank_everyone(live, [item.item_id for item in items], 1_000_000_100_000)
    moved = {user for user in USERS if second[user].variant != first[user].variant}
    assert all(first[user].variant == "dot" and second[user].variant == "model" for user in moved)
    assert all(second[user].variant == "model" for user in USERS if first[user].variant == "model")
