"""`homefeed demo`: the whole pipeline on the local broker, ending in a live board and a summary.

Each run uses fresh topic names and a fresh consumer group, so a second demo
never mixes with the state of the first. The worker ranks with the trained
sequence model (trained once and cached, :mod:`streams.demo_model`) unless
``--model dot-product`` is given. The replay sends the model's training period
at full speed — it only builds each user's state — and paces the test period,
whose clicks the summary scores prequentially.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.kafka import LocalBroker
from indexer.datasets import load_dataset
from streams.admin import GroupProgress, create_topics
from streams.demo_model import resolve_model, scored_from_s
from streams.demo_summary import day, demo_summary
from streams.kafka_connection import KafkaConnection
from streams.processes import (
    child_env,
    fresh_namespace,
    interrupt_on_sigterm,
    spawn,
    stop,
    wait_for_vectors,
)
from streams.replay import (
    TwoPeriodReplay,
    make_producer,
    publish_items,
    replay_history_then_live,
)
from streams.settings import Settings
from streams.topics import TopicNames
from streams.watch import Board, watch
from streams.wire import Event, Item

log = logging.getLogger(__name__)

INDEX_WAIT_S = 600.0
PROGRESS_EVERY_S = 5.0
# The run is over when the replay has ended, the worker has committed every
# event, and no homepage has arrived for this long.
SETTLED_S = 5.0
PHASES = {
    "history": "history at full speed",
    "catching up": "waiting for the worker to catch up",
    "live": "live",
    "finished": "replay finished",
}


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``homefeed demo`` was asked to do."""

    data: Path
    rate: float
    limit: int | None
    show: int
    model: str
    train_seconds: float
    summary_path: Path | None = None


class EncodingProgress:
    """Prints how far the catalog's encoding is: items done, rate, time left."""

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._printed = -PROGRESS_EVERY_S

    def __call__(self, count: int, waited_s: float) -> None:
        """One look at the item-vectors topic: print every few seconds, and at the end."""
        done = count >= self._expected
        if not done and waited_s - self._printed < PROGRESS_EVERY_S:
            return
        self._printed = waited_s
        rate = count / waited_s if waited_s > 0 else 0.0
        left = ""
        if rate > 0 and not done:
            left = f", about {(self._expected - count) / rate:.0f}s left"
        print(
            f"[demo] BERT encoding the catalog: {count:,}/{self._expected:,} items "
            f"({rate:.0f} items/s{left})",
            flush=True,
        )


class ReplayStatus:
    """The board's header line: events sent and their rate, homepages, the worker's lag."""

    def __init__(self, progress: GroupProgress, replay: TwoPeriodReplay) -> None:
        self._progress = progress
        self._replay = replay
        self._last = (time.monotonic(), 0)
        self.sent = 0
        self.lag = -1

    def __call__(self, board: Board) -> str:
        """The header line now (asks the broker)."""
        self.sent, self.lag = self._progress.read()
        now = time.monotonic()
        rate = (self.sent - self._last[1]) / max(1e-6, now - self._last[0])
        self._last = (now, self.sent)
        replay = self._replay
        total = replay.history_events + replay.live_events
        phase = PHASES.get(replay.phase, replay.phase)
        return (
            f"replay: {self.sent:,}/{total:,} events sent, {rate:,.0f}/s ({phase}) · "
            f"{board.tally.everyone.lists:,} homepages published · worker lag {self.lag:,} events"
        )

    async def caught_up(self) -> bool:
        """True once the worker has committed the whole history (as of the last look)."""
        return self.sent >= self._replay.history_events and self.lag == 0

    def settled(self, board: Board) -> bool:
        """True once everything sent has been consumed and ranked."""
        return (
            self._replay.finished
            and self.lag == 0
            and time.monotonic() - board.last_ranking_at >= SETTLED_S
        )


def run_demo(base: Settings, options: DemoOptions) -> int:
    """Run the demo until it has replayed everything, or Ctrl-C / SIGTERM; returns the exit code."""
    interrupt_on_sigterm()
    try:
        model_dir = resolve_model(
            options.model, base.data_dir / "models", options.data, options.train_seconds
        )
    except KeyboardInterrupt:
        print("\n[demo] stopped while training", flush=True)
        return 130
    except subprocess.CalledProcessError as error:
        print(f"[demo] training failed (exit status {error.returncode})", file=sys.stderr)
        return 1
    settings = fresh_namespace(base, "demo")
    broker = None
    if not settings.uses_external_kafka:
        broker = LocalBroker(data_dir=base.data_dir / "kafka", port=base.local_kafka_port)
        print(f"[demo] starting Kafka at {broker.bootstrap} (first run fetches jars)…", flush=True)
        broker.start(wait_s=120)
    try:
        return _run_pipeline(settings, options, model_dir)
    finally:
        if broker is not None:
            broker.stop()
        print("[demo] stopped cleanly", flush=True)


def _run_pipeline(settings: Settings, options: DemoOptions, model_dir: Path | None) -> int:
    topics = TopicNames.from_settings(settings)
    logs = settings.data_dir / "logs"
    extra = {"HOMEFEED_CLICK_MODEL_DIR": str(model_dir)} if model_dir is not None else {}
    env = child_env(settings, **extra)
    create_topics(settings)
    dataset = load_dataset(options.data)
    events = dataset.events[: options.limit] if options.limit is not None else dataset.events
    titles = {item.item_id: item.title for item in dataset.items}
    scored_from = scored_from_s(model_dir, options.data)
    ranked_by = str(model_dir) if model_dir is not None else "the BERT dot product (no model)"
    print(f"[demo] topics under '{settings.topic_prefix}'; logs in {logs}", flush=True)
    print(f"[demo] ranking with {ranked_by}", flush=True)
    worker = homepage = None
    board = Board()
    replay = TwoPeriodReplay()
    progress = GroupProgress(settings.kafka, topics.events, settings.app_id)
    status = ReplayStatus(progress, replay)
    try:
        worker = spawn(["worker", "--role", "all"], env, logs / "worker.log")
        print(f"[demo] worker started (pid {worker.pid}); publishing {len(titles)} items…")
        homepage = spawn(["serve"], env, logs / "homepage.log")
        homepage_url = f"http://{settings.serve_host}:{settings.serve_port}/"
        print(f"[demo] homepage: {homepage_url} (pid {homepage.pid})", flush=True)
        asyncio.run(_publish_catalog(settings.kafka, topics.items, dataset.items))
        started = time.monotonic()
        indexed = wait_for_vectors(
            settings.kafka,
            topics.item_vectors,
            len(titles),
            INDEX_WAIT_S,
            EncodingProgress(len(titles)),
        )
        print(f"[demo] BERT encoded {indexed} items in {time.monotonic() - started:.1f}s")
        if homepage.poll() is not None:
            print(
                f"[demo] the homepage service stopped (port {settings.serve_port} taken? "
                f"set HOMEFEED_SERVE_PORT); see {logs / 'homepage.log'}",
                flush=True,
            )
        print(
            f"[demo] replaying {len(events):,} events: those before {day(scored_from)} at full "
            f"speed (they only build state), then {options.rate:.0f}/s; Ctrl-C to stop",
            flush=True,
        )
        asyncio.run(
            _replay_and_watch(
                settings,
                topics,
                events,
                titles,
                options,
                live_from_ms=scored_from * 1000,
                board=board,
                replay=replay,
                status=status,
                banner=f"live page: {homepage_url}  (Ctrl-C stops the demo)\n",
            )
        )
    except KeyboardInterrupt:
        print("\n[demo] stopping…", flush=True)
    finally:
        progress.close()
        stop(homepage)
        stop(worker)
    summary = demo_summary(board, events[: status.sent], scored_from, settings, topics)
    print(summary.describe(titles), flush=True)
    if options.summary_path is not None:
        options.summary_path.parent.mkdir(parents=True, exist_ok=True)
        options.summary_path.write_text(json.dumps(summary.to_dict(), indent=2))
    return 0


async def _publish_catalog(kafka: KafkaConnection, topic: str, items: list[Item]) -> None:
    producer = make_producer(kafka)
    await producer.start()
    try:
        await publish_items(producer, topic, items)
    finally:
        await producer.stop()


async def _replay_and_watch(
    settings: Settings,
    topics: TopicNames,
    events: list[Event],
    titles: dict[str, str],
    options: DemoOptions,
    *,
    live_from_ms: int,
    board: Board,
    replay: TwoPeriodReplay,
    status: ReplayStatus,
    banner: str,
) -> None:
    """Send the events while the board follows the homepages they make."""
    producer = make_producer(settings.kafka)
    await producer.start()
    sending = asyncio.create_task(
        replay_history_then_live(
            producer,
            topics.events,
            events,
            live_from_ms=live_from_ms,
            rate=options.rate,
            caught_up=status.caught_up,
            replay=replay,
        )
    )
    try:
        await watch(
            settings.kafka,
            topics.rankings,
            titles,
            board=board,
            show=options.show,
            banner=banner,
            status=status,
            done=status.settled,
        )
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        await producer.stop()
