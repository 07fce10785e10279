"""Online metrics as a stream: served homepages joined with the events that follow them.

Two agents and a timer, in every ranking worker:

- ``homefeed.online-rekey`` reads the served log (one record per ranking
  batch, keyed by nothing) and re-keys each homepage by its user onto
  ``online-shown``, so it lands on the partition of that user's events.
- ``homefeed.online-join`` reads events and ``online-shown`` together (Faust
  assigns the two co-partitioned topics' partition *p* to one worker), keeps
  each user's side of the join in the ``online-join`` table and the figures
  of each (partition, window, variant, model) in ``online-windows``; both
  tables have changelogs, so a restarted or rebalanced worker carries on.
- a timer publishes the windows that changed to the compacted
  ``online-metrics`` topic, which ``homefeed experiments online`` and the
  dashboard read.

The join's rule is in :mod:`ranker.online.join`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT

from ranker.online.join import Outcome, SeenEvent, UserJoin, shown_from_served
from ranker.online.windows import add_outcome, add_served, refresh_interval, window_start
from streams.outputs import Output
from streams.tables import writes_for
from streams.topics import JOIN_TABLE, WINDOWS_TABLE
from streams.wire import Event, InvalidMessage, OnlineWindow, Shown, decode_served, now_ms
from streams.wire.online import window_key, window_start_of

log = logging.getLogger(__name__)


def online_tables(
    app: faust.App,  # type: ignore[type-arg]
    partitions: int,
) -> tuple[faust.Table, faust.Table]:  # type: ignore[type-arg]
    """The join's per-user table and its per-window figures table (raw bytes both)."""

    def table(name: str, help_text: str) -> faust.Table:  # type: ignore[type-arg]
        return app.Table(  # type: ignore[return-value]
            name,
            default=None,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            options={"write_buffer_size": 4 * 2**20},
            help=help_text,
        )

    return (
        table(JOIN_TABLE, "Per-user recent events and homepages awaiting their next event."),
        table(WINDOWS_TABLE, "Online figures per partition, window, variant and model."),
    )


class OnlineMetricsJoin:
    """Applies a batch of events and shown homepages to the two tables (no Faust agents).

    Kept apart from the agents so tests can drive it with plain records.
    """

    def __init__(
        self,
        join_table: Any,
        windows_table: Any,
        window_s: int,
        catalog_size: Callable[[], int] = lambda: 0,
        retention_s: float = 2 * 24 * 3600.0,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._joins = join_table
        self._windows = windows_table
        self.window_s = window_s
        self._catalog_size = catalog_size
        self.retention_ms = int(retention_s * 1000)
        self._clock_ms = clock_ms
        self._latest_start: dict[int, int] = {}  # per partition: newest window written
        # Windows changed since the last publish, and since the last table write.
        self.dirty: dict[bytes, OnlineWindow] = {}
        self._unstored: dict[bytes, OnlineWindow] = {}
        self.stats = {"served": 0, "judged": 0, "clicked": 0, "duplicates": 0}

    def apply(self, user_key: bytes, partition: int, records: list[Event | Shown]) -> None:
        """One user's records, in arrival order, from one partition."""
        state = UserJoin.decode(self._joins.get(user_key))
        served: list[Shown] = []
        outcomes: list[Outcome] = []
        for record in records:
            if isinstance(record, Shown):
                fresh, judged = state.on_shown(record)
                if fresh:
                    served.append(record)
                else:
                    self.stats["duplicates"] += 1
                outcomes += judged
            else:
                outcomes += state.on_event(SeenEvent(record.event_id, record.item_id, record.type))
        self._joins[user_key] = state.encode()
        # A homepage older than the kept windows is judged too late to count:
        # its window is gone, and a fresh one would overwrite the published figures.
        oldest = self._clock_ms() - self.retention_ms
        outcomes = [outcome for outcome in outcomes if outcome.shown.generated_at >= oldest]
        for shown in served:
            if shown.generated_at >= oldest:
                add_served(self._window(partition, shown), shown)
        for outcome in outcomes:
            add_outcome(self._window(partition, outcome.shown), outcome)
        self.stats["served"] += len(served)
        self.stats["judged"] += len(outcomes)
        self.stats["clicked"] += sum(outcome.position is not None for outcome in outcomes)

    def _window(self, partition: int, shown: Shown) -> OnlineWindow:
        start = window_start(shown.generated_at, self.window_s)
        key = window_key(partition, start, shown.variant, shown.model_version)
        window = self.dirty.get(key)
        if window is None:
            stored = self._windows.get(key)
            window = (
                OnlineWindow.decode(stored)
                if stored is not None
                else OnlineWindow(
                    partition, start, self.window_s, shown.variant, shown.model_version
                )
            )
            self.dirty[key] = window
        self._unstored[key] = window
        return window

    def store_windows(self, partition: int) -> None:
        """Write this partition's changed windows to the table (inside its event's context)."""
        for key in [key for key, w in self._unstored.items() if w.partition == partition]:
            window = self._unstored.pop(key)
            refresh_interval(window)
            window.catalog_size = max(window.catalog_size, self._catalog_size())
            window.updated_at = self._clock_ms()
            self._windows[key] = window.encode()
            if window.window_start > self._latest_start.get(partition, -1):
                self._latest_start[partition] = window.window_start
                self._prune(partition)

    def _prune(self, partition: int) -> None:
        """Forget this partition's windows older than the retention (once per new window)."""
        oldest = self._clock_ms() - self.retention_ms
        for key in [k for k in self._partition_keys(partition) if window_start_of(k) < oldest]:
            self._windows.pop(key, None)
            self.dirty.pop(key, None)

    def republish(self, partition: int) -> None:
        """Queue every kept window of ``partition`` for publishing.

        A worker that takes a partition over (start, rebalance, crash) may
        hold figures the previous owner wrote but did not publish yet.
        """
        for key in self._partition_keys(partition):
            if key not in self.dirty and (stored := self._windows.get(key)) is not None:
                self.dirty[key] = OnlineWindow.decode(stored)

    def _partition_keys(self, partition: int) -> list[bytes]:
        prefix = f"{partition}/".encode()
        return [key for key in list(self._windows.keys()) if bytes(key).startswith(prefix)]

    def take_changed(self) -> list[OnlineWindow]:
        """The windows changed since the last call (to publish), and forget them."""
        changed = list(self.dirty.values())
        self.dirty.clear()
        return changed


def register_online_metrics(
    app: faust.App,  # type: ignore[type-arg]
    *,
    served_topic: faust.TopicT,
    joined_topics: faust.TopicT,
    events_topic_name: str,
    shown_output: Output,
    metrics_output: Output,
    join: OnlineMetricsJoin,
    batch_size: int,
    publish_s: float,
) -> None:
    """Wire the re-key agent, the join agent and the publishing timer."""

    @app.agent(served_topic, name="homefeed.online-rekey")
    async def rekey_served(stream: StreamT) -> None:  # type: ignore[type-arg]
        async for raw in stream:
            try:
                entries = decode_served(raw, features=False)
            except (InvalidMessage, KeyError, TypeError, ValueError, IndexError):
                log.warning("online metrics: skipping an unreadable served record")
                continue
            for served in entries:
                shown = shown_from_served(served)
                await shown_output.send(key=served.user_id.encode(), value=shown.encode())

    @app.agent(joined_topics, name="homefeed.online-join")
    async def join_shown_with_events(stream: StreamT) -> None:  # type: ignore[type-arg]
        events = cast("Stream[Any]", stream)
        taken_over: set[int] = set()  # partitions whose kept windows were queued again
        async for batch in events.take_events(batch_size, within=0.5):
            by_user: dict[bytes, list[tuple[EventT, Event | Shown]]] = {}
            for event in batch:
                record = _record(event, events_topic_name)
                if record is not None and event.message.key is not None:
                    by_user.setdefault(bytes(event.message.key), []).append((event, record))
            last_of_partition: dict[int, EventT] = {}
            for event in batch:
                partition = event.message.partition
                if partition not in taken_over:
                    taken_over.add(partition)
                    with writes_for(event):
                        join.republish(partition)
            for user_key, run in by_user.items():
                last = run[-1][0]
                with writes_for(last):
                    join.apply(user_key, last.message.partition, [record for _, record in run])
                last_of_partition[last.message.partition] = last
            for partition, event in last_of_partition.items():
                with writes_for(event):
                    join.store_windows(partition)

    @app.timer(interval=publish_s)
    async def publish_online_metrics() -> None:
        for window in join.take_changed():
            await metrics_output.send(key=window.key(), value=window.encode())


def _record(event: EventT, events_topic_name: str) -> Event | Shown | None:
    """The user event or shown homepage in ``event`` (None if unreadable).

    Malformed events are the ranking agent's to dead-letter; here they are skipped.
    """
    raw = event.message.value
    if raw is None:
        return None
    try:
        if event.message.topic == events_topic_name:
            return Event.decode(raw)
        return Shown.decode(raw)
    except InvalidMessage:
        return None
