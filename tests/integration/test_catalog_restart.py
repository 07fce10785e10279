"""Catalog work after a restart: no needless re-encoding, and no stalled event path.

The item-vectors topic carries each vector's text digest; a starting indexer
reads them back, so re-sending the same catalog costs no BERT call and
publishes nothing, while a changed item is still encoded. And while a real
10k catalog is being re-encoded, clicks are still ranked within a second.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from bench.catalog_work import run_catalog_bench
from indexer.datasets import load_movielens_items
from streams.admin import topic_size
from streams.kafka_connection import KafkaConnection
from streams.wire import ItemVector
from tests.factories import SHARED_DATA
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

ENCODED = re.compile(r"encoded (\d+) of (\d+) items")


def encode_counts(log_path: Path) -> tuple[int, int]:
    """(items encoded, items received) over a worker log's indexing batches."""
    pairs = [tuple(map(int, m.groups())) for m in ENCODED.finditer(log_path.read_text())]
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def test_a_restarted_worker_skips_unchanged_items_and_encodes_changed_ones(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    live: LiveEnv = fresh_env(kafka_bootstrap, tmp_path / "state")
    items = load_movielens_items(write_taste_folder(tmp_path / "taste"))
    records = [(item.item_id.encode(), item.encode()) for item in items]
    bootstrap, vectors_topic = live.settings.bootstrap_servers, live.topics.item_vectors
    first_log = tmp_path / "first.log"
    with running_worker(live, first_log):
        produce(bootstrap, live.topics.items, records)
        wait_for(
            lambda: topic_size(KafkaConnection(bootstrap), vectors_topic) >= len(items),
            120,
            "the first encode",
        )
    published = topic_size(KafkaConnection(bootstrap), vectors_topic)
    (_, first_vector), *_ = read_to_end(bootstrap, vectors_topic)
    assert first_vector is not None and ItemVector.decode(first_vector).text_digest

    changed = replace(items[0], title="A completely different title (2001)")
    second_log = tmp_path / "second.log"
    with running_worker(live, second_log):
        produce(bootstrap, live.topics.items, records)
        produce(bootstrap, live.topics.items, [(changed.item_id.encode(), changed.encode())])
        wait_for(
            lambda: (
                encode_counts(second_log)[1] >= len(items) + 1
                and topic_size(KafkaConnection(bootstrap), vectors_topic) > published
            ),
            120,
            "the restarted indexer to read the re-sent catalog",
        )
    assert "published item digests" in second_log.read_text()
    encoded, received = encode_counts(second_log)
    assert encoded == 1, f"{encoded} of {received} re-sent items went through BERT again"
    assert topic_size(KafkaConnection(bootstrap), vectors_topic) == published + 1


def test_clicks_are_ranked_within_a_second_while_a_10k_catalog_is_re_encoded(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`homefeed bench catalog` on the real MovieLens catalog: its figures are the checks."""
    monkeypatch.setenv("HOMEFEED_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("HOMEFEED_DATA_DIR", str(tmp_path))
    figures = run_catalog_bench(SHARED_DATA / "movielens-ml-latest-small").as_json()
    items = figures["catalog_items"]
    assert items > 9_000
    assert figures["unchanged_resend_reencoded"] == 0
    assert 0 < figures["reencoded_when_probed"] < items, "probed outside the re-encoding"
    while_encoding = figures["click_ranked_s_while_encoding"]
    assert statistics.median(while_encoding) <= 1.0, while_encoding
    assert max(while_encoding) <= 3.0, while_encoding
    assert max(figures["dead_lettered_s_while_encoding"]) <= 5.0, figures
