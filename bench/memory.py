"""Memory benchmark: bytes of user state per user, and a worker's resident memory at scale.

State size comes from replaying the real MovieLens ratings (610 users, 100k
ratings) into :class:`ranker.state.UserState` with the pipeline's history and
seen bounds, with web-style event ids (uuid4 hex, the longest we expect).
Worker RSS is measured on a real ``homefeed worker --role ranker`` process
after it has ranked every one of ``users`` users against ``items`` items.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import numpy as np

from bench.report import BenchResult, Ratio, percentiles

log = logging.getLogger(__name__)

TARGET_BYTES_PER_USER = 2048.0


def state_sizes(history_size: int, seen_size: int) -> np.ndarray:
    """Encoded state bytes of every MovieLens user after the full replay."""
    from bench.catalog import MOVIELENS
    from indexer.datasets import iter_movielens_events
    from ranker.state import UserState

    states: dict[str, UserState] = {}
    for offset, event in enumerate(iter_movielens_events(MOVIELENS)):
        state = states.setdefault(event.user_id, UserState())
        state.apply(
            uuid.uuid4().hex,
            event.type,
            event.item_id,
            event.ts,
            history_size=history_size,
            seen_size=seen_size,
            position=(0, offset),
        )
    return np.array([len(state.encode()) for state in states.values()], dtype=np.int64)


def worker_rss_mb(users: int, items: int, log_dir: Path) -> dict[str, float]:
    """RSS of a real ranking worker after one event from each of ``users`` users."""
    import psutil

    from bench.e2e import START_TIMEOUT_S, ranking_points
    from bench.live import (
        bench_broker,
        fresh_settings,
        produce_events,
        publish_catalog,
        read_topic,
        running_workers,
        synthetic_events,
    )
    from streams.settings import load_settings
    from streams.topics import TopicNames

    settings = load_settings()
    with bench_broker(settings) as bootstrap:
        run = fresh_settings(bootstrap, settings.data_dir / "bench", partitions=settings.partitions)
        topics = TopicNames.from_settings(run)
        asyncio.run(publish_catalog(run, items, seed=items))
        events = synthetic_events(users, users, items, seed=3, prefix="m")
        # One event per user, each a distinct user: the table ends with `users` entries.
        events = [
            type(event)(event.event_id, f"user-{seq}", event.type, event.ts, event.item_id)
            for seq, event in enumerate(events)
        ]
        asyncio.run(produce_events(run.kafka, topics.events, events))
        with running_workers(run, 1, log_dir / run.topic_prefix.rstrip(".")) as workers:
            process = psutil.Process(workers[0].pid)
            started = time.monotonic()
            records = asyncio.run(
                read_topic(
                    run.kafka, topics.rankings, run.partitions, users, timeout_s=START_TIMEOUT_S
                )
            )
            rss = process.memory_info().rss / 2**20
            ranked = len(ranking_points(records, "m"))
            log.info(
                "worker ranked %d users in %.0fs; RSS %.0f MiB",
                ranked,
                time.monotonic() - started,
                rss,
            )
    return {
        "worker_rss_mb": round(rss, 1),
        "worker_users": users,
        "worker_items": items,
        "worker_rankings": ranked,
    }


def run_memory_bench(
    *,
    users: int = 100_000,
    items: int = 100_000,
    with_worker: bool = True,
    log_dir: Path | None = None,
) -> BenchResult:
    """State bytes per user (real histories) and, optionally, a live worker's RSS."""
    from streams.settings import load_settings

    settings = load_settings()
    sizes = state_sizes(settings.history_size, settings.seen_size)
    spread = percentiles(sizes.tolist(), (50, 95))
    result = BenchResult("memory")
    result.ratios.append(
        Ratio(
            "2 KB target / mean state bytes per user",
            TARGET_BYTES_PER_USER,
            float(sizes.mean()),
            target=1.0,
        )
    )
    result.ratios.append(
        Ratio(
            "2 KB target / p95 state bytes per user", TARGET_BYTES_PER_USER, spread[95], target=1.0
        )
    )
    result.figures.update(
        bytes_per_user=round(float(sizes.mean()), 1),
        bytes_per_user_p50=spread[50],
        bytes_per_user_p95=spread[95],
        bytes_per_user_max=int(sizes.max()),
        state_users=len(sizes),
    )
    if with_worker:
        result.figures.update(
            worker_rss_mb(users, items, log_dir or settings.data_dir / "bench" / "logs")
        )
    result.notes.append(
        f"state: MovieLens ratings replayed with uuid4 event ids, history {settings.history_size}, "
        f"seen {settings.seen_size}; RSS: one event per user, derived catalog vectors"
    )
    return result
