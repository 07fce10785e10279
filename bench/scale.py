"""Scale-out benchmark: 1, 2 and 3 ranking workers in one consumer group on the local broker.

Each worker count gets a fresh namespace (topics with enough partitions, a new
group), the same catalog and the same event backlog, and measures the backlog
drain rate (10%–90% stretch) plus the CPU the workers used.

"Every user's events were handled by exactly one worker" is shown two ways:
every backlog user's state lives in exactly one worker's local RocksDB store
(Faust keeps one per table partition, written only by the worker that applied
the user's events), and no backlog event was ranked twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.e2e import BACKLOG_PREFIX, START_TIMEOUT_S, ranking_points
from bench.live import (
    bench_broker,
    drain_rate,
    fresh_settings,
    produce_events,
    publish_catalog,
    read_topic,
    running_workers,
    synthetic_events,
)
from bench.report import BenchResult, Ratio
from streams.settings import Settings, load_settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)

SETTLE_S = 10.0  # after every partition answers, let a last rebalance finish


def state_owners(data_dirs: list[Path], prefix: str = "user-") -> dict[str, list[int]]:
    """User id → the workers whose local user-state store (RocksDB) holds that user.

    Faust keeps one RocksDB per table partition in the worker's data folder; a
    user appears in a worker's store only if that worker applied its events.
    """
    import rocksdict

    owners: dict[str, list[int]] = {}
    for worker, folder in enumerate(data_dirs):
        for store in sorted(folder.glob("**/user-state-*.db")):
            db = rocksdict.Rdict(
                str(store),
                options=rocksdict.Options(raw_mode=True),
                access_type=rocksdict.AccessType.read_only(),
            )
            try:
                for key in db.keys():
                    user = bytes(key).decode()  # type: ignore[arg-type]
                    if user.startswith(prefix) and worker not in owners.setdefault(user, []):
                        owners[user].append(worker)
            finally:
                db.close()
    return owners


async def wait_until_serving(settings: Settings, timeout_s: float) -> float:
    """Probe users until each has a ranking: every partition is owned and its replica ready."""
    from streams.wire import Event, now_ms

    topics = TopicNames.from_settings(settings)
    probes = [
        Event(f"probe-{n}", f"probe-{n}", "click", now_ms(), "item-0")
        for n in range(4 * settings.partitions)
    ]
    started = time.monotonic()
    await produce_events(settings.kafka, topics.events, probes)
    wanted = {p.user_id.encode() for p in probes}
    while time.monotonic() - started < timeout_s:
        records = await read_topic(
            settings.kafka,
            topics.rankings,
            settings.partitions,
            10**9,
            10.0,
            idle_s=1.0,
        )
        if wanted <= {r.key for r in records}:
            return time.monotonic() - started
    raise TimeoutError(f"workers did not serve every partition within {timeout_s:.0f}s")


def run_workers(
    settings: Settings,
    bootstrap: str,
    workers: int,
    items: int,
    backlog: int,
    users: int,
    log_dir: Path,
) -> dict[str, Any]:
    """Drain one backlog with ``workers`` workers; throughput, CPU and ownership figures."""
    import psutil

    run = fresh_settings(bootstrap, settings.data_dir / "bench", partitions=settings.partitions)
    topics = TopicNames.from_settings(run)
    asyncio.run(publish_catalog(run, items, seed=items))
    backlog_events = synthetic_events(backlog, users, items, seed=7, prefix=BACKLOG_PREFIX)
    with running_workers(run, workers, log_dir / run.topic_prefix.rstrip(".")) as processes:
        # The group settles before the measured traffic: a worker that joins
        # late would otherwise take over partitions mid-backlog.
        ready_s = asyncio.run(wait_until_serving(run, START_TIMEOUT_S))
        time.sleep(SETTLE_S)
        handles = [psutil.Process(p.pid) for p in processes]
        cpu_before = sum(h.cpu_times().user + h.cpu_times().system for h in handles)
        started = time.monotonic()
        asyncio.run(produce_events(run.kafka, topics.events, backlog_events))
        records = asyncio.run(
            read_topic(
                run.kafka,
                topics.rankings,
                run.partitions,
                10**9,
                timeout_s=START_TIMEOUT_S,
                idle_s=10.0,
            )
        )
        wall = time.monotonic() - started
        cpu = sum(h.cpu_times().user + h.cpu_times().system for h in handles) - cpu_before
    owners = state_owners([run.data_dir / f"w{n}" for n in range(workers)])
    points = ranking_points(records, BACKLOG_PREFIX)
    ranked_twice = sum(
        count - 1 for count in Counter(seq for _, seq in points).values() if count > 1
    )
    per_worker = Counter(found[0] for found in owners.values() if len(found) == 1)
    return {
        "workers": workers,
        "events_per_s": round(drain_rate(points), 1),
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "cpu_cores_used": round(cpu / wall, 2) if wall else 0.0,
        "partitions": run.partitions,
        "ready_s": round(ready_s, 1),
        "users_with_state": len(owners),
        "users_in_exactly_one_worker": sum(1 for found in owners.values() if len(found) == 1),
        "users_per_worker": [per_worker.get(n, 0) for n in range(workers)],
        "events_ranked_twice": ranked_twice,
        "users_ranked": len({r.key for r in records}),
    }


def run_scale_bench(
    *,
    worker_counts: list[int],
    items: int = 10_000,
    backlog: int = 30_000,
    users: int = 10_000,
    log_dir: Path | None = None,
) -> BenchResult:
    """1..N workers against the same broker; ratios are against the 1-worker run."""
    settings = load_settings()
    log_dir = log_dir or settings.data_dir / "bench" / "logs"
    rows = []
    with bench_broker(settings) as bootstrap:
        for workers in worker_counts:
            log.info("scale bench: %d worker(s)", workers)
            rows.append(run_workers(settings, bootstrap, workers, items, backlog, users, log_dir))
            log.info("%s", rows[-1])
    result = BenchResult("scale")
    base = rows[0]["events_per_s"]
    for row in rows[1:]:
        result.ratios.append(
            Ratio(
                f"{row['workers']} workers / {rows[0]['workers']} worker events/s",
                row["events_per_s"],
                base,
            )
        )
    result.figures["runs"] = rows
    result.notes.append(
        f"{items} items, backlog {backlog} events over {users} users, "
        f"{settings.partitions} partitions; {os.cpu_count()} cores shared with the broker"
    )
    return result
