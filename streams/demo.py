"""`homefeed demo`: the whole pipeline on the local broker, ending in a live board.

Each run uses fresh topic names and a fresh consumer group, so a second demo
never mixes with the state of the first.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path

from deploy.kafka import LocalBroker
from indexer.datasets import load_dataset
from streams.admin import create_topics, topic_size
from streams.processes import (
    child_env,
    fresh_namespace,
    interrupt_on_sigterm,
    spawn,
    stop,
    wait_for_vectors,
)
from streams.settings import Settings
from streams.topics import TopicNames
from streams.watch import watch

log = logging.getLogger(__name__)

INDEX_WAIT_S = 300.0


def _report(settings: Settings, topics: TopicNames, seconds: float) -> None:
    events = topic_size(settings.bootstrap_servers, topics.events)
    rankings = topic_size(settings.bootstrap_servers, topics.rankings)
    print(
        f"[demo] replayed {events} events in {seconds:.0f}s ({events / seconds:.0f} events/s); "
        f"{rankings} homepages published to {topics.rankings}",
        flush=True,
    )


def run_demo(base: Settings, data: Path, *, rate: float, limit: int | None, show: int) -> int:
    """Run the demo until Ctrl-C or SIGTERM; returns the exit code."""
    interrupt_on_sigterm()
    settings = fresh_namespace(base, "demo")
    topics = TopicNames.from_settings(settings)
    logs = settings.data_dir / "logs"
    broker = None
    if not settings.uses_external_kafka:
        broker = LocalBroker(data_dir=base.data_dir / "kafka", port=base.local_kafka_port)
        print(f"[demo] starting Kafka at {broker.bootstrap} (first run fetches jars)…", flush=True)
        broker.start(wait_s=120)
    env = child_env(settings)
    worker = replay = homepage = None
    replay_started: float | None = None
    try:
        create_topics(settings)
        dataset = load_dataset(data, with_events=False)
        titles = {item.item_id: item.title for item in dataset.items}
        print(f"[demo] topics under '{settings.topic_prefix}'; logs in {logs}", flush=True)
        worker = spawn(["worker", "--role", "all"], env, logs / "worker.log")
        print(f"[demo] worker started (pid {worker.pid}); publishing {len(titles)} items…")
        homepage = spawn(["serve"], env, logs / "homepage.log")
        homepage_url = f"http://{settings.serve_host}:{settings.serve_port}/"
        print(f"[demo] homepage: {homepage_url} (pid {homepage.pid})", flush=True)
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "replay", "--data", str(data), "--items-only"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        started = time.monotonic()
        indexed = wait_for_vectors(
            settings.bootstrap_servers, topics.item_vectors, len(titles), INDEX_WAIT_S
        )
        print(f"[demo] BERT encoded {indexed} items in {time.monotonic() - started:.1f}s")
        if homepage.poll() is not None:
            print(
                f"[demo] the homepage service stopped (port {settings.serve_port} taken? "
                f"set HOMEFEED_SERVE_PORT); see {logs / 'homepage.log'}",
                flush=True,
            )
        replay_args = ["replay", "--data", str(data), "--events-only", "--rate", str(rate)]
        if limit is not None:
            replay_args += ["--limit", str(limit)]
        replay = spawn(replay_args, env, logs / "replay.log")
        replay_started = time.monotonic()
        print(f"[demo] replaying events at {rate:.0f}/s; Ctrl-C to stop", flush=True)
        time.sleep(2.0)
        asyncio.run(
            watch(
                settings.bootstrap_servers,
                topics.rankings,
                titles,
                show=show,
                banner=f"live page: {homepage_url}  (Ctrl-C stops the demo)\n",
            )
        )
    except KeyboardInterrupt:
        print("\n[demo] stopping…", flush=True)
    finally:
        stop(replay)
        if replay_started is not None:
            _report(settings, topics, time.monotonic() - replay_started)
        stop(homepage)
        stop(worker)
        if broker is not None:
            broker.stop()
        print("[demo] stopped cleanly", flush=True)
    return 0
