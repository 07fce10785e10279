"""A restarted worker does not re-encode a catalog it already published.

The item-vectors topic carries each vector's text digest; a starting indexer
reads them back, so re-sending the same catalog costs no BERT call and
publishes nothing, while a changed item is still encoded.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.datasets import load_movielens_items
from streams.admin import topic_size
from streams.wire import ItemVector
from tests.live import LiveEnv, fresh_env, produce, read_to_end, running_worker, wait_for
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
