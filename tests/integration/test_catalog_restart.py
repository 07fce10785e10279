"""Catalog work after a restart: no needless re-encoding, and no stalled event path.

The item-vectors topic carries each vector's text digest; a starting indexer
reads them back, so re-sending the same catalog costs no BERT call and
publishes nothing, while a changed item is still encoded. And while a real
10k catalog is being re-encoded, clicks are still ranked within a second.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.datasets import load_movielens_items
from streams.admin import topic_size
from streams.wire import ItemVector
from tests.factories import SHARED_DATA, make_event
from tests.integration.test_pipeline import rankings_for
from tests.live import (
    LiveEnv,
    TopicReader,
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
            lambda: topic_size(bootstrap, vectors_topic) >= len(items), 120, "the first encode"
        )
    published = topic_size(bootstrap, vectors_topic)
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
                and topic_size(bootstrap, vectors_topic) > published
            ),
            120,
            "the restarted indexer to read the re-sent catalog",
        )
    assert "published item digests" in second_log.read_text()
    encoded, received = encode_counts(second_log)
    assert encoded == 1, f"{encoded} of {received} re-sent items went through BERT again"
    assert topic_size(bootstrap, vectors_topic) == published + 1


def test_clicks_are_ranked_within_a_second_while_a_10k_catalog_is_re_encoded(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    live = fresh_env(kafka_bootstrap, tmp_path / "state")
    items = load_movielens_items(SHARED_DATA / "movielens-ml-latest-small")
    bootstrap, vectors_topic = live.settings.bootstrap_servers, live.topics.item_vectors
    with running_worker(live, tmp_path / "first.log"):
        produce(bootstrap, live.topics.items, [(i.item_id.encode(), i.encode()) for i in items])
        wait_for(lambda: topic_size(bootstrap, vectors_topic) >= len(items), 300, "the catalog")
    published = topic_size(bootstrap, vectors_topic)
    # Every item edited: the restarted indexer must encode the whole catalog again.
    edited = [replace(item, title=f"{item.title} (remastered)") for item in items]
    with running_worker(live, tmp_path / "second.log"):
        reader = TopicReader(bootstrap, live.topics.rankings)
        try:
            ranked_after(live, reader, "warm-up", timeout_s=120)
            records = [(item.item_id.encode(), item.encode()) for item in edited]
            produce(bootstrap, live.topics.items, records)
            time.sleep(3.0)  # the indexer is now working through the catalog
            latencies = [ranked_after(live, reader, f"probe-{n}", timeout_s=60) for n in range(3)]
            re_encoded = topic_size(bootstrap, vectors_topic) - published
        finally:
            reader.close()
    assert re_encoded < len(items), "the catalog finished encoding before the probes"
    assert statistics.median(latencies) <= 1.0, latencies
    assert max(latencies) <= 3.0, latencies


def ranked_after(live: LiveEnv, reader: TopicReader, user: str, timeout_s: float) -> float:
    """Seconds from sending a click to seeing the user's ranking made from it."""
    click = make_event(user, "1")
    # Malformed events beside the click: their dead letters share the producer.
    noise = [(b"noise", b"\xc1 not msgpack") for _ in range(100)]
    sent = time.monotonic()
    produce(
        live.settings.bootstrap_servers,
        live.topics.events,
        [(user.encode(), click.encode()), *noise],
    )
    reader.read_until(
        lambda records: any(
            r.source_event_id == click.event_id for r in rankings_for(records, user)
        ),
        timeout_s,
    )
    return time.monotonic() - sent
