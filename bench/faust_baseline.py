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

import faust
from faust.types import StreamT

from ranker.state import UserState
from streams.app import create_app
from streams.outputs import ProducerOutput
from streams.settings import Settings, load_settings
from streams.tables import TableStateStore, user_state_table
from streams.topics import TopicNames
from streams.wire import Event, InvalidMessage

OUTPUT_SUFFIX = "faust-baseline"


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
    store = TableStateStore(user_state_table(app, settings.partitions))
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


def main() -> None:
    """Run the baseline worker until stopped."""
    from faust.worker import Worker as FaustWorker

    app = create_baseline_app(load_settings())
    FaustWorker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
