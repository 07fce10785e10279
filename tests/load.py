"""Background traffic for the fault tests: faults are proven under load, not on an idle pipeline.

A thread sends Poisson-timed events from many users (the soak's open-loop
shape, bench/open_loop.py) and keeps the catalog changing (adds, edits,
deletes through the items topic, so the indexer re-encodes as it runs) until
stopped. It counts, per user, the events the broker acknowledged and the ones
whose delivery failed (a broker restart), so the state can be checked against
exactly what reached Kafka.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace

from kafka import KafkaProducer

from bench.open_loop import poisson_events
from streams.follow import decoded_rankings
from streams.wire import Event, Item
from tests.live import LiveEnv, TopicReader, user_states


class BackgroundLoad(threading.Thread):
    """Events at ``rate``/s from ``users`` users, and catalog churn, until :meth:`finish`."""

    def __init__(
        self,
        live: LiveEnv,
        catalog: list[Item],
        extra_items: list[Item],
        *,
        rate: float = 150.0,
        users: int = 200,
        prefix: str = "load",
        churn_every_s: float = 2.0,
    ) -> None:
        super().__init__(daemon=True)
        self.live, self.catalog, self.extra = live, catalog, list(extra_items)
        self.rate, self.users, self.prefix = rate, users, prefix
        self.churn_every_s = churn_every_s
        self.acked: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.last_event: dict[str, str] = {}
        self.churned: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self.live.settings.bootstrap_servers,
            acks="all",
            linger_ms=2,
            retries=5,
            request_timeout_ms=10_000,
        )
        started = next_churn = time.monotonic()
        added: list[Item] = []
        try:
            events = poisson_events(
                self.rate,
                self.users,
                len(self.catalog),
                seed=9,
                prefix=self.prefix,
                tastes_width=min(20, len(self.catalog)),
            )
            for offset, synthetic in events:
                if self._stopping.is_set():
                    break
                ahead = started + offset - time.monotonic()
                if ahead > 0.001:
                    time.sleep(ahead)
                event = self._event(synthetic)
                self.last_event[event.user_id] = event.event_id
                future = producer.send(
                    self.live.topics.events, key=event.user_id.encode(), value=event.encode()
                )
                future.add_callback(self._count, self.acked, event.user_id)
                future.add_errback(self._count, self.failed, event.user_id)
                if time.monotonic() >= next_churn:
                    next_churn += self.churn_every_s
                    self._churn(producer, added)
        finally:
            producer.flush(timeout=60)
            producer.close(timeout=30)

    def finish(self, timeout_s: float = 90.0) -> None:
        """Stop sending; return once every send is acknowledged or failed."""
        self._stopping.set()
        self.join(timeout=timeout_s)
        assert not self.is_alive(), "the load thread did not stop"

    def _event(self, synthetic: Event) -> Event:
        user = synthetic.user_id.removeprefix("user-")
        row = int((synthetic.item_id or "item-0").removeprefix("item-"))
        item = self.catalog[row % len(self.catalog)]
        return replace(synthetic, user_id=f"{self.prefix}-{user}", item_id=item.item_id)

    def _count(self, counter: Counter[str], user_id: str, _: object) -> None:
        with self._lock:
            counter[user_id] += 1

    def _churn(self, producer: KafkaProducer, added: list[Item]) -> None:
        """One add, one edit and (once something was added) one delete."""
        topic = self.live.topics.items
        if self.extra:
            item = self.extra.pop()
            added.append(item)
            producer.send(topic, key=item.item_id.encode(), value=item.encode())
            self.churned["added"] += 1
        edited = self.catalog[self.churned["edited"] % len(self.catalog)]
        edited = replace(edited, title=f"{edited.title} (edit {self.churned['edited']})")
        producer.send(topic, key=edited.item_id.encode(), value=edited.encode())
        self.churned["edited"] += 1
        if len(added) > 1:
            gone = added.pop(0)
            producer.send(topic, key=gone.item_id.encode(), value=None)
            self.churned["deleted"] += 1

    def processed(self) -> dict[str, int]:
        """Events applied per load user, from the state table's changelog."""
        return {
            user: state.processed
            for user, state in user_states(self.live).items()
            if user.startswith(self.prefix + "-")
        }

    def all_applied(self) -> bool:
        """Every acknowledged event of every load user is in its state."""
        counts = self.processed()
        return all(counts.get(user, 0) >= sent for user, sent in self.acked.items())

    def assert_exactly_once(self) -> None:
        """State holds each acknowledged event once; an event whose ack failed may be in or out."""
        counts = self.processed()
        assert sum(self.acked.values()) > self.rate, "the load barely ran"
        wrong = {
            user: (counts.get(user, 0), sent, self.failed[user])
            for user, sent in self.acked.items()
            if not sent <= counts.get(user, 0) <= sent + self.failed[user]
        }
        assert not wrong, f"(applied, acked, failed) per user: {wrong}"

    def assert_last_events_ranked(self, timeout_s: float = 60.0) -> None:
        """Each load user's homepage accounts for their last event: no ranking lost."""
        wanted = {event_id for user, event_id in self.last_event.items() if self.failed[user] == 0}
        missing = set(wanted)
        decoded = 0  # records already decoded: each poll decodes only the new ones

        def all_ranked(records: list[tuple[bytes | None, bytes | None]]) -> bool:
            nonlocal decoded
            fresh = decoded_rankings(value for _, value in records[decoded:])
            decoded = len(records)
            missing.difference_update(ranking.source_event_id for ranking in fresh)
            return not missing

        reader = TopicReader(self.live.settings.bootstrap_servers, self.live.topics.rankings)
        try:
            reader.read_until(all_ranked, timeout_s)
        finally:
            reader.close()
