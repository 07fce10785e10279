"""Faust baselines for e2e: bare Faust workers over the same events, no ranking.

Three modes (``HOMEFEED_BENCH_BASELINE``), each forwarding every event to an
output topic:

* ``no-table``: decode and forward; Faust's own cost per event.
* ``table``: per event, what the pipeline's state agent used to do: read the
  user's state from the RocksDB table, apply the event, write it back (one
  changelog record per event).
* ``coalesced``: what the pipeline's state agent does now: micro-batches
  (``take_events``), one read and one write per user per batch.

Their drain rates are the ceilings Faust and the table set on this machine:
the pipeline's rate over them is the share ranking leaves.

Run as ``python -m bench.faust_baseline`` with the worker's HOMEFEED_*
environment; it forwards to ``<prefix>faust-baseline-<mode>``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Literal, cast, get_args

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT

from bench.live import drain_rate, read_topic, running_workers
from bench.passthrough import forwarded_points
from ranker.service import user_runs
from ranker.state import UserState
from streams.admin import create_topics
from streams.app import create_app
from streams.outputs import ProducerOutput
from streams.settings import Settings, load_settings
from streams.tables import TableStateStore, user_state_table, writes_for
from streams.topics import TopicNames, TopicSpec
from streams.wire import Event, InvalidMessage

log = logging.getLogger(__name__)

BaselineMode = Literal["no-table", "table", "coalesced"]
BASELINE_MODES: tuple[BaselineMode, ...] = get_args(BaselineMode)
MODE_ENV = "HOMEFEED_BENCH_BASELINE"
BASELINE_MODULE = ("bench.faust_baseline",)


def output_topic(settings: Settings, mode: BaselineMode) -> str:
    """Where the baseline of ``mode`` forwards events."""
    return f"{settings.topic_prefix}faust-baseline-{mode}"


def create_baseline_app(settings: Settings, mode: BaselineMode) -> faust.App:
    """The Faust app of one baseline: same Faust settings and table as the worker."""
    app = create_app(settings)
    events = app.topic(
        TopicNames.from_settings(settings).events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    forward = ProducerOutput(app, output_topic(settings, mode))
    # The pipeline's own table adapter and output, so the baseline costs what they cost.
    store = (
        None
        if mode == "no-table"
        else TableStateStore(
            user_state_table(app, settings.partitions, settings.table_write_buffer_mb)
        )
    )

    def apply(state: UserState, event: EventT, user_event: Event) -> None:
        state.apply(
            user_event.event_id,
            user_event.type,
            user_event.item_id,
            user_event.ts,
            history_size=settings.history_size,
            seen_size=settings.seen_size,
            position=(event.message.partition, event.message.offset),
        )

    if store is None or mode == "table":

        @app.agent(events, name="bench.faust-baseline")
        async def per_event(stream: StreamT) -> None:  # type: ignore[type-arg]
            async for event in stream.events():
                raw = event.message.value
                try:
                    user_event = Event.decode(raw)
                except InvalidMessage:
                    continue
                if store is not None:
                    state = UserState.decode(store.get(user_event.user_id))
                    apply(state, event, user_event)
                    store.put(user_event.user_id, state.encode())
                await forward.send(key=user_event.user_id.encode(), value=raw)

        return app

    @app.agent(events, name="bench.faust-baseline")
    async def coalesce_and_forward(stream: StreamT) -> None:  # type: ignore[type-arg]
        batches = cast("Stream[Any]", stream)
        async for batch in batches.take_events(settings.batch_size, within=settings.batch_within_s):
            accepted: list[tuple[EventT, Event]] = []
            for event in batch:
                if event.message.value is None:
                    continue
                try:
                    accepted.append((event, Event.decode(event.message.value)))
                except InvalidMessage:
                    continue
            for run in user_runs(accepted, lambda pair: pair[1].user_id).values():
                user_id = run[0][1].user_id
                with writes_for(run[-1][0]):
                    state = UserState.decode(store.get(user_id))
                    for event, user_event in run:
                        apply(state, event, user_event)
                    store.put(user_id, state.encode())
                for event, _ in run:
                    await forward.send(key=user_id.encode(), value=event.message.value)

    return app


def run_faust_baseline(
    run: Settings,
    backlog: int,
    log_dir: Path,
    prefix: str,
    timeout_s: float,
    mode: BaselineMode = "table",
) -> float:
    """Drain rate of a bare Faust worker of ``mode`` over ``run``'s events (no ranking)."""
    baseline = run.model_copy(
        update={
            "app_id": f"{run.app_id}-faust-baseline-{mode}",
            "data_dir": run.data_dir / f"faust-{mode}",
        }
    )
    target = output_topic(baseline, mode)
    create_topics(baseline, [TopicSpec(target, run.partitions, {})])
    with running_workers(
        baseline,
        1,
        log_dir / f"{run.topic_prefix.rstrip('.')}-faust-{mode}",
        BASELINE_MODULE,
        extra_env={MODE_ENV: mode},
    ):
        forwarded = asyncio.run(
            read_topic(run.kafka, target, run.partitions, backlog, timeout_s=timeout_s)
        )
    rate = drain_rate(forwarded_points(forwarded, prefix))
    log.info("Faust baseline (%s) drained at %.0f events/s", mode, rate)
    return rate


def main() -> None:
    """Run the baseline worker until stopped."""
    from faust.worker import Worker as FaustWorker

    mode = os.environ.get(MODE_ENV, "table")
    if mode not in BASELINE_MODES:
        raise SystemExit(f"{MODE_ENV}={mode!r}: expected one of {', '.join(BASELINE_MODES)}")
    app = create_baseline_app(load_settings(), cast("BaselineMode", mode))
    FaustWorker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
