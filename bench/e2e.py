"""End-to-end benchmark: one real ranking worker vs a bare aiokafka passthrough, same topics.

1. Publish a catalog of derived item vectors straight to item-vectors (BERT is
   benchmarked separately), and a backlog of click/view events.
2. Start one ``homefeed worker --role ranker`` with a sequence model of the
   production shape loaded (seeded weights: cost, not quality, is measured
   here; bench/live.py ``seeded_model``); its sustained rate is how fast
   it drains the backlog (10%–90% stretch, from the rankings' record times and
   the events they answer).
3. At half that rate, produce open-loop live events (Poisson arrivals) and
   time each one from its intended send time to the consumption of the first
   ranking of its user that accounts for it.
   Optionally also at fixed rates (``--freshness-rates``), to find the
   highest rate that keeps p99 under the target with the lag flat.
4. Baselines, same run, same events topic: an aiokafka consumer group that
   forwards every event to an output topic (consume → produce, nothing else;
   bench/passthrough.py), and a bare Faust worker that keeps the same per-user
   state table and forwards (bench/faust_baseline.py): the framework's own
   ceiling here. The freshness probe is bench/freshness.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.faust_baseline import run_faust_baseline
from bench.freshness import LIVE_PREFIX, freshness_row, measure_freshness
from bench.live import (
    OutputRecord,
    bench_broker,
    drain_rate,
    event_sequence,
    fresh_settings,
    model_env,
    produce_events,
    publish_catalog,
    read_topic,
    running_workers,
    seeded_model,
    synthetic_events,
)
from bench.passthrough import run_passthrough
from bench.report import BenchResult, Ratio
from streams.settings import Settings, load_settings
from streams.topics import TopicNames
from streams.wire import InvalidMessage, Ranking

log = logging.getLogger(__name__)

BACKLOG_PREFIX = "b"
TARGET_EVENTS_PER_S = 2000.0
TARGET_FRACTION = 0.5
TARGET_P99_MS = 50.0
START_TIMEOUT_S = 600.0


def ranking_points(records: list[OutputRecord], prefix: str) -> list[tuple[int, int]]:
    """(record time, backlog seq) of each ranking that answers a backlog event."""
    points = []
    for record in records:
        if record.value is None:
            continue
        try:
            ranking = Ranking.decode(record.value)
        except InvalidMessage:
            continue
        seq = event_sequence(ranking.source_event_id, prefix)
        if seq is not None:
            points.append((record.timestamp_ms, seq))
    return points


def model_share(records: list[OutputRecord], model_version: str) -> float:
    """Share of the rankings among ``records`` made by ``model_version``."""
    versions = []
    for record in records:
        if record.value is None:
            continue
        try:
            versions.append(Ranking.decode(record.value).model_version)
        except InvalidMessage:
            continue
    return sum(version == model_version for version in versions) / max(1, len(versions))


def run_catalog(
    settings: Settings,
    bootstrap: str,
    items: int,
    backlog: int,
    users: int,
    freshness_s: float,
    log_dir: Path,
    freshness_rate: float | None = None,
    sweep_rates: Sequence[float] = (),
) -> dict[str, Any]:
    """One catalog size: drain rate, freshness at half of it (and at ``sweep_rates``),
    and both baselines."""
    run = fresh_settings(bootstrap, settings.data_dir / "bench", partitions=settings.partitions)
    topics = TopicNames.from_settings(run)
    log.info("catalog of %d items on %s*", items, run.topic_prefix)
    asyncio.run(publish_catalog(run, items, seed=items))
    models = run.data_dir / "models"
    model_version = seeded_model([f"item-{row}" for row in range(items)], models / "v1", 1)
    events = synthetic_events(backlog, users, items, seed=7, prefix=BACKLOG_PREFIX)
    produce_s = asyncio.run(produce_events(run.kafka, topics.events, events))
    log.info("backlog of %d events produced in %.1fs", backlog, produce_s)

    sweep: list[dict[str, float]] = []
    worker_logs = log_dir / run.topic_prefix.rstrip(".")
    with running_workers(run, 1, worker_logs, extra_env=model_env(models)):
        records = asyncio.run(
            read_topic(run.kafka, topics.rankings, run.partitions, 10**9, timeout_s=START_TIMEOUT_S)
        )
        points = ranking_points(records, BACKLOG_PREFIX)
        events_per_s = drain_rate(points)
        log.info("pipeline drained at %.0f events/s (%d rankings)", events_per_s, len(points))
        live_rate = freshness_rate or events_per_s / 2
        live = asyncio.run(measure_freshness(run, live_rate, freshness_s, users, items))
        for number, rate in enumerate(sweep_rates):
            sampled = asyncio.run(
                measure_freshness(run, rate, freshness_s, users, items, f"{LIVE_PREFIX}{number}")
            )
            sweep.append(freshness_row(sampled))
            log.info("freshness at %.0f events/s: %s", rate, sweep[-1])

    passthrough_per_s = run_passthrough(run, backlog, BACKLOG_PREFIX)
    faust_per_s = run_faust_baseline(run, backlog, log_dir, BACKLOG_PREFIX, START_TIMEOUT_S)
    fresh = freshness_row(live)
    return {
        "catalog_items": items,
        "model_version": model_version,
        "events_per_s": round(events_per_s, 1),
        "passthrough_events_per_s": round(passthrough_per_s, 1),
        "faust_table_events_per_s": round(faust_per_s, 1),
        "rankings_per_event": round(len(points) / backlog, 3),
        "rankings_by_model_share": round(model_share(records, model_version), 4),
        "freshness_rate_events_per_s": fresh["rate_events_per_s"],
        "freshness_samples": fresh["samples"],
        "freshness_sent": fresh["sent"],
        "freshness_ms_p50": fresh["p50_ms"],
        "freshness_ms_p95": fresh["p95_ms"],
        "freshness_ms_p99": fresh["p99_ms"],
        "freshness_ms_p999": fresh["p999_ms"],
        "freshness_ms_max": fresh["max_ms"],
        "freshness_lag_flat": fresh["lag_flat"],
        "freshness_sweep": sweep,
    }


def run_e2e_bench(
    *,
    catalogs: list[int],
    backlog: int = 40_000,
    users: int = 20_000,
    freshness_s: float = 20.0,
    freshness_rate: float | None = None,
    sweep_rates: Sequence[float] = (),
    log_dir: Path | None = None,
) -> BenchResult:
    """Run every catalog size on one broker; the largest size's figures are the headline keys."""
    settings = load_settings()
    log_dir = log_dir or settings.data_dir / "bench" / "logs"
    rows = []
    with bench_broker(settings) as bootstrap:
        for items in catalogs:
            rows.append(
                run_catalog(
                    settings,
                    bootstrap,
                    items,
                    backlog,
                    users,
                    freshness_s,
                    log_dir,
                    freshness_rate,
                    sweep_rates,
                )
            )
    result = BenchResult("e2e")
    headline = rows[-1]
    for row in rows:
        result.ratios.append(
            Ratio(
                f"pipeline / passthrough events/s ({row['catalog_items']} items)",
                row["events_per_s"],
                row["passthrough_events_per_s"],
                target=TARGET_FRACTION,
            )
        )
        result.ratios.append(
            Ratio(
                f"pipeline / Faust+table baseline events/s ({row['catalog_items']} items)",
                row["events_per_s"],
                row["faust_table_events_per_s"],
            )
        )
    result.ratios.append(
        Ratio(
            f"events/s / {TARGET_EVENTS_PER_S:.0f} target ({headline['catalog_items']} items)",
            headline["events_per_s"],
            TARGET_EVENTS_PER_S,
            target=1.0,
        )
    )
    result.ratios.append(
        Ratio(
            f"{TARGET_P99_MS:.0f} ms / freshness p99 ({headline['catalog_items']} items)",
            TARGET_P99_MS,
            headline["freshness_ms_p99"],
            target=1.0,
        )
    )
    result.figures.update(headline)
    result.figures["catalogs"] = rows
    within = [
        row["rate_events_per_s"]
        for row in headline["freshness_sweep"]
        if row["samples"] and row["p99_ms"] <= TARGET_P99_MS and row["lag_flat"]
    ]
    if headline["freshness_sweep"]:
        result.figures["highest_rate_with_p99_within_target"] = max(within, default=0.0)
    result.notes.append(
        f"backlog {backlog} events over {users} users (70% clicks, 30% views); catalog = real BERT "
        "vectors of MSN+MovieLens items plus noise, produced straight to item-vectors"
    )
    result.notes.append(
        "rankings_per_event < 1: a user's burst within one micro-batch is ranked once (coalescing)"
    )
    return result
