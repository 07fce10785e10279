"""Second e2e baseline: a bare Faust worker with the pipeline's state table, no ranking.

Per event it does what the pipeline's state agent does (decode, read the
user's state from the RocksDB table, apply the event, write it back, which
also writes the changelog) and forwards the event to an output topic. Its
drain rate is the ceiling Faust and the table set on this machine: the
pipeline's rate over it is the share ranking leaves.

Run as ``python -m bench.faust_baseline`` with the worker's HOMEFEED_*
environment; it forwards to ``<prefix>faust-baseline``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import faust
from faust.types import StreamT

from bench.live import drain_rate, read_topic, running_workers
from bench.passthrough import forwarded_points
from ranker.state import UserState
from streams.admin import create_topics
from streams.app import create_app
from streams.outputs import ProducerOutput
from streams.settings import Settings, load_settings
from streams.tables import TableStateStore, user_state_table
from streams.topics import TopicNames, TopicSpec
from streams.wire import Event, InvalidMessage

log = logging.getLogger(__name__)

OUTPUT_SUFFIX = "faust-baseline"
BASELINE_MODULE = ("bench.faust_baseline",)


def output_topic(settings: Settings) -> str:
    """Where the baseline forwards events."""
    return f"{settings.topic_prefix}{OUTPUT_SUFFIX}"


def create_baseline_app(settings: Settings) -> faust.App:
    """The Faust app of the baseline: same Faust settings and table as the worker."""
    app = create_app(settings)
    events = app.topic(
        TopicNames.from_settings(settings).events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    # The pipeline's own table adapter and output, so the baseline costs what they cost.
    store = TableStateStore(
        user_state_table(app, settings.partitions, settings.table_write_buffer_mb)
    )
    forward = ProducerOutput(app, output_topic(settings))

    @app.agent(events, name="bench.faust-baseline")
    async def update_and_forward(stream: StreamT) -> None:  # type: ignore[type-arg]
        async for event in stream.events():
            raw = event.message.value
            try:
                user_event = Event.decode(raw)
            except InvalidMessage:
                continue
            state = UserState.decode(store.get(user_event.user_id))
            state.apply(
                user_event.event_id,
                user_event.type,
                user_event.item_id,
                user_event.ts,
                history_size=settings.history_size,
                seen_size=settings.seen_size,
                position=(event.message.partition, event.message.offset),
            )
            store.put(user_event.user_id, state.encode())
            await forward.send(key=user_event.user_id.encode(), value=raw)

    return app


def run_faust_baseline(
    run: Settings, backlog: int, log_dir: Path, prefix: str, timeout_s: float
) -> float:
    """Drain rate of a bare Faust worker with the pipeline's state table (no ranking)."""
    baseline = run.model_copy(
        update={"app_id": f"{run.app_id}-faust-baseline", "data_dir": run.data_dir / "faust"}
    )
    target = output_topic(baseline)
    create_topics(baseline, [TopicSpec(target, run.partitions, {})])
    with running_workers(
        baseline, 1, log_dir / f"{run.topic_prefix.rstrip('.')}-faust", BASELINE_MODULE
    ):
        forwarded = asyncio.run(
            read_topic(run.kafka, target, run.partitions, backlog, timeout_s=timeout_s)
        )
    rate = drain_rate(forwarded_points(forwarded, prefix))
    log.info("Faust + table baseline drained at %.0f events/s", rate)
    return rate


def main() -> None:
    """Run the baseline worker until stopped."""
    from faust.worker import Worker as FaustWorker

    app = create_baseline_app(load_settings())
    FaustWorker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
