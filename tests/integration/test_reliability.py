"""Faults against the real broker: bad input, kill -9, rebalance, broker restart, forget.

Exactness is checked from outside the worker: the user-state changelog topic
holds each user's processed-event count, which must equal what was produced.
The kill, rebalance and restart happen under load (tests/load.py): Poisson
traffic from other users and a changing catalog run through the fault, and
their counts and last homepages are checked too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from deploy.kafka import LocalBroker, free_ports
from streams.admin import topic_size
from streams.follow import decoded_rankings
from streams.settings import Settings
from streams.wire import Event, Item
from tests.factories import make_event, msn_items
from tests.live import (
    LiveEnv,
    TopicReader,
    fresh_env,
    kill_hard,
    produce,
    read_to_end,
    running_worker,
    user_states,
    wait_for,
    wait_for_catalog,
)
from tests.load import BackgroundLoad

pytestmark = pytest.mark.integration

CATALOG = msn_items()[:200]
EXTRA_ITEMS = msn_items()[200:300]  # the load adds these while the fault happens
USERS = 30
EVENTS_PER_USER = 100


def publish_catalog(live: LiveEnv) -> None:
    produce(
        live.settings.bootstrap_servers,
        live.topics.items,
        [(item.item_id.encode(), item.encode()) for item in CATALOG],
    )


def replay_events(live: LiveEnv, prefix: str) -> list[Event]:
    """USERS × EVENTS_PER_USER distinct click/view events, interleaved across users."""
    events = []
    for n in range(EVENTS_PER_USER):
        for u in range(USERS):
            item = CATALOG[(u * 7 + n) % len(CATALOG)]
            events.append(
                make_event(
                    f"{prefix}-{u}",
                    item.item_id,
                    kind="click" if n % 3 else "view",
                    ts=1_700_000_000_000 + n * 1000,
                    event_id=f"{prefix}-{u}-{n}",
                )
            )
    return events


class SlowProducer(threading.Thread):
    """Produces events in 20 slices over ``seconds``; ``finished_at`` marks the last ack."""

    def __init__(self, live: LiveEnv, events: list[Event], seconds: float) -> None:
        super().__init__(daemon=True)
        self.live, self.events, self.seconds = live, events, seconds
        self.finished_at: float | None = None

    def run(self) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self.live.settings.bootstrap_servers, acks="all", linger_ms=5
        )
        try:
            slice_size = max(1, len(self.events) // 20)
            for start in range(0, len(self.events), slice_size):
                for event in self.events[start : start + slice_size]:
                    producer.send(
                        self.live.topics.events, key=event.user_id.encode(), value=event.encode()
                    )
                producer.flush(timeout=60)
                time.sleep(self.seconds / 20)
        finally:
            producer.close(timeout=30)
        self.finished_at = time.monotonic()


def produce_slowly(live: LiveEnv, events: list[Event], seconds: float) -> SlowProducer:
    """Start producing ``events`` over about ``seconds`` in the background."""
    thread = SlowProducer(live, events, seconds)
    thread.start()
    return thread


def processed_counts(live: LiveEnv, prefix: str) -> dict[str, int]:
    return {
        user: state.processed
        for user, state in user_states(live).items()
        if user.startswith(prefix)
    }


def all_processed(live: LiveEnv, prefix: str) -> bool:
    counts = processed_counts(live, prefix)
    return len(counts) == USERS and all(c >= EVENTS_PER_USER for c in counts.values())


def assert_exactly_once(live: LiveEnv, prefix: str) -> None:
    counts = processed_counts(live, prefix)
    assert counts == {f"{prefix}-{u}": EVENTS_PER_USER for u in range(USERS)}


@pytest.fixture
def live(kafka_bootstrap: str, tmp_path: Path) -> Iterator[LiveEnv]:
    yield fresh_env(kafka_bootstrap, tmp_path / "state-a")


def test_kill_9_mid_replay_loses_and_double_counts_nothing(live: LiveEnv, tmp_path: Path) -> None:
    publish_catalog(live)
    events = replay_events(live, "crash")
    load = BackgroundLoad(live, CATALOG, EXTRA_ITEMS)
    with running_worker(live, tmp_path / "worker-1.log") as worker:
        wait_for_catalog(live, len(CATALOG))
        load.start()
        producer = produce_slowly(live, events, seconds=8)
        wait_for(
            lambda: sum(processed_counts(live, "crash").values()) > len(events) // 4,
            90,
            "a quarter of the replay to be processed",
        )
        kill_hard(worker)
    killed_at = time.monotonic()
    last_ids = {e.event_id for e in events[-USERS:]}  # each user's last event
    with running_worker(live, tmp_path / "worker-2.log"):
        producer.join(timeout=60)
        wait_for(lambda: all_processed(live, "crash"), 120, "every event after the restart")
        recovery_s = time.monotonic() - killed_at
        drain_s = time.monotonic() - (producer.finished_at or killed_at)
        load.finish()
        wait_for(load.all_applied, 120, "every event of the load")
        # Every user's homepage catches up with their last event, not just some.
        reader = TopicReader(live.settings.bootstrap_servers, live.topics.rankings)
        try:
            reader.read_until(lambda records: last_ids <= ranked_sources(records), 60)
        finally:
            reader.close()
        load.assert_last_events_ranked()
    print(
        f"kill -9 under load: {len(events)} events produced, every one reflected once; "
        f"caught up {recovery_s:.1f}s after the kill, {drain_s:.1f}s after the last event "
        f"was produced; load: {sum(load.acked.values())} events from {len(load.acked)} users, "
        f"catalog {dict(load.churned)}, every one reflected once"
    )
    assert_exactly_once(live, "crash")
    load.assert_exactly_once()


def ranked_sources(records: list[tuple[bytes | None, bytes | None]]) -> set[str | None]:
    """Source event ids of the rankings among ``records``."""
    return {r.source_event_id for r in decoded_rankings(v for _, v in records)}


def test_rebalance_to_a_second_worker_keeps_every_count(live: LiveEnv, tmp_path: Path) -> None:
    publish_catalog(live)
    events = replay_events(live, "moved")
    load = BackgroundLoad(live, CATALOG, EXTRA_ITEMS)
    with running_worker(live, tmp_path / "worker-a.log") as first:
        wait_for_catalog(live, len(CATALOG))
        load.start()
        producer = produce_slowly(live, events, seconds=10)
        wait_for(
            lambda: sum(processed_counts(live, "moved").values()) > len(events) // 5,
            90,
            "the replay to start",
        )
        with running_worker(live, tmp_path / "worker-b.log", data_dir=tmp_path / "state-b"):
            time.sleep(3)  # let the group rebalance onto both workers mid-replay
            first.terminate()
            first.wait(timeout=60)
            stopped_at = time.monotonic()
            producer.join(timeout=60)
            wait_for(lambda: all_processed(live, "moved"), 120, "the second worker to take over")
            drain_s = time.monotonic() - (producer.finished_at or stopped_at)
            load.finish()
            wait_for(load.all_applied, 120, "every event of the load")
            load.assert_last_events_ranked()
            print(
                f"rebalance under load: {len(events)} events; the second worker caught up "
                f"{time.monotonic() - stopped_at:.1f}s after the first stopped, "
                f"{drain_s:.1f}s after the last event was produced; load: "
                f"{sum(load.acked.values())} events, catalog {dict(load.churned)}"
            )
    assert_exactly_once(live, "moved")
    load.assert_exactly_once()


def test_malformed_items_go_to_dead_letter(live: LiveEnv, tmp_path: Path) -> None:
    bad_items = [
        b"\xff\x00",
        Item("x", "t").encode()[:-3],
        Event("e", "u", "click", 1, "i").encode(),
    ]  # an event is no item
    with running_worker(live, tmp_path / "worker.log", role="indexer"):
        produce(
            live.settings.bootstrap_servers,
            live.topics.items,
            [(b"bad", raw) for raw in bad_items]
            + [(CATALOG[0].item_id.encode(), CATALOG[0].encode())],
        )
        wait_for(
            lambda: topic_size(live.settings.kafka, live.topics.dead_letter) >= len(bad_items),
            90,
            "three dead letters",
        )
        wait_for(
            lambda: topic_size(live.settings.kafka, live.topics.item_vectors) >= 1,
            60,
            "the good item's vector",
        )


def test_forget_erases_state_and_homepage(live: LiveEnv, tmp_path: Path) -> None:
    from streams.cli import main

    publish_catalog(live)
    clicks = [
        make_event("leaver", item.item_id, ts=1_700_000_000_000 + n)
        for n, item in enumerate(CATALOG[:3])
    ]
    with running_worker(live, tmp_path / "worker.log"):
        wait_for_catalog(live, len(CATALOG))
        produce(
            live.settings.bootstrap_servers,
            live.topics.events,
            [(e.user_id.encode(), e.encode()) for e in clicks],
        )
        wait_for(lambda: "leaver" in user_states(live), 60, "the user's state")
        import os

        os.environ.update(live.env())  # the CLI reads its settings from the environment
        try:
            assert main(["forget", "leaver"]) == 0
        finally:
            for name in live.env():
                if name.startswith("HOMEFEED_"):
                    os.environ.pop(name, None)
        wait_for(lambda: "leaver" not in user_states(live), 60, "the state to be erased")
        reader = TopicReader(live.settings.bootstrap_servers, live.topics.rankings)
        try:
            reader.read_until(lambda recs: any(k == b"leaver" and v is None for k, v in recs), 60)
        finally:
            reader.close()
        # What the homepage service rebuilds from: the user's latest ranking is the tombstone.
        latest = [
            v
            for k, v in read_to_end(live.settings.bootstrap_servers, live.topics.rankings)
            if k == b"leaver"
        ]
        assert latest[-1] is None


def test_worker_reconnects_after_broker_restart(tmp_path: Path) -> None:
    if Settings().kafka_bootstrap:
        pytest.skip("an external broker is configured; this test restarts its own broker")
    port, controller_port = free_ports(2)
    broker = LocalBroker(data_dir=tmp_path / "kafka", port=port, controller_port=controller_port)
    broker.start(wait_s=120)
    try:
        live = fresh_env(broker.bootstrap, tmp_path / "state")
        publish_catalog(live)
        events = replay_events(live, "outage")
        half = len(events) // 2
        load = BackgroundLoad(live, CATALOG, EXTRA_ITEMS)
        with running_worker(live, tmp_path / "worker.log") as worker:
            wait_for_catalog(live, len(CATALOG))
            load.start()
            produce(
                broker.bootstrap,
                live.topics.events,
                [(e.user_id.encode(), e.encode()) for e in events[:half]],
            )
            broker.stop()
            time.sleep(3)
            broker.start(wait_s=120)
            restarted_at = time.monotonic()
            produce(
                broker.bootstrap,
                live.topics.events,
                [(e.user_id.encode(), e.encode()) for e in events[half:]],
            )
            wait_for(lambda: all_processed(live, "outage"), 180, "the worker to catch up")
            load.finish()
            wait_for(load.all_applied, 120, "every acknowledged event of the load")
            load.assert_last_events_ranked()
            print(
                f"broker restart under load: worker caught up "
                f"{time.monotonic() - restarted_at:.1f}s after the broker came back; load: "
                f"{sum(load.acked.values())} events acked, {sum(load.failed.values())} failed "
                f"in the outage, catalog {dict(load.churned)}"
            )
            assert worker.poll() is None, "the worker died with the broker"
        assert_exactly_once(live, "outage")
        load.assert_exactly_once()
    finally:
        broker.stop()
