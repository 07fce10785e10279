"""End-to-end benchmark: one real ranking worker vs bare Kafka and Faust baselines.

1. Publish a catalog of derived item vectors straight to item-vectors (BERT is
   benchmarked separately), and a backlog of click/view events.
2. Start one ``homefeed worker --role ranker`` serving a sequence model: a
   trained artifact (``homefeed bench e2e`` trains the demo's model on the
   shared data when none is given) or, in tests, one of the production shape
   with seeded weights; its sustained rate is how fast it drains the backlog
   (10%–90% stretch, from the rankings' record times and the events they
   answer).
3. At half that rate, produce open-loop live events (Poisson arrivals) and
   time each one from its intended send time to the consumption of the first
   ranking of its user that accounts for it. Then the same at fixed rates
   (``--freshness-rates``), ``--runs`` times, to find the highest rate that
   keeps p99 under the target with the lag flat in every run.
4. Throughout, the cores used by the worker, the broker and this process
   (bench/cpu.py), and the worker's CPU per event by stage (its stats file).
5. Baselines, same broker, on a backlog of their own (``--baseline-backlog``):
   an aiokafka consumer group that forwards every event (bench/passthrough.py),
   and bare Faust workers with no table, a per-event table write and a
   coalesced table write (bench/faust_baseline.py): the framework's own
   ceilings here. The freshness probe is bench/freshness.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpu import CpuSampler, stage_split
from bench.faust_baseline import BASELINE_MODES, BaselineMode, run_faust_baseline
from bench.freshness import (
    LIVE_PREFIX,
    FreshnessRun,
    freshness_row,
    measure_freshness,
    wait_until_caught_up,
)
from bench.live import (
    OutputRecord,
    bench_broker_process,
    drain_rate,
    drain_window,
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
# Names of the sampled processes and of the worker's stats file in bench/cpu.py.
WORKER, BROKER, LOAD_GENERATOR, WORKER_STATS = "worker", "broker", "load_generator", "stats"
# Each Faust baseline's rate under the --json keys the issue names.
BASELINE_KEYS: dict[BaselineMode, str] = {
    "no-table": "faust_no_table_events_per_s",
    "table": "faust_table_events_per_s",
    "coalesced": "faust_coalesced_events_per_s",
}


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


@dataclass(frozen=True)
class E2eRun:
    """What every catalog size of one bench shares: broker, samplers, model, options."""

    settings: Settings
    bootstrap: str
    sampler: CpuSampler
    backlog: int
    users: int
    freshness_s: float
    log_dir: Path
    freshness_rate: float | None = None
    sweep_rates: Sequence[float] = ()
    runs: int = 1
    model: Path | None = None


def install_model(model: Path | None, item_ids: list[str], models: Path) -> str:
    """Put the model the worker serves in ``models``; its version.

    ``model`` is a trained sequence artifact (copied), or None for one of the
    production shape with seeded weights over ``item_ids`` (cost does not
    depend on the weights' values).
    """
    if model is None:
        return seeded_model(item_ids, models / "v1", 1)
    from ranker.model.sequence_artifact import load_sequence_artifact

    version = load_sequence_artifact(model).model_version  # verified before a worker sees it
    shutil.copytree(model, models / "v1")
    return version


def run_catalog(e2e: E2eRun, items: int) -> dict[str, Any]:
    """One catalog size: drain rate and freshness at half of it (and at the sweep's rates,
    ``runs`` times), with the cores and CPU per event by stage of each."""
    run = fresh_settings(e2e.bootstrap, e2e.settings.data_dir / "bench", e2e.settings.partitions)
    topics = TopicNames.from_settings(run)
    log.info("catalog of %d items on %s*", items, run.topic_prefix)
    asyncio.run(publish_catalog(run, items, seed=items))
    models = run.data_dir / "models"
    model_version = install_model(e2e.model, [f"item-{row}" for row in range(items)], models)
    events = synthetic_events(e2e.backlog, e2e.users, items, seed=7, prefix=BACKLOG_PREFIX)
    produce_s = asyncio.run(produce_events(run.kafka, topics.events, events))
    log.info("backlog of %d events produced in %.1fs", e2e.backlog, produce_s)

    sweep: list[dict[str, Any]] = []
    worker_logs = e2e.log_dir / run.topic_prefix.rstrip(".")
    stats_file = run.data_dir / "worker-stats.json"
    env = {**model_env(models), "HOMEFEED_STATS_FILE": str(stats_file)}
    with running_workers(run, 1, worker_logs, extra_env=env) as (worker,):
        e2e.sampler.watch(WORKER, worker.pid)
        e2e.sampler.watch_stats(WORKER_STATS, stats_file)
        records = asyncio.run(
            read_topic(run.kafka, topics.rankings, run.partitions, 10**9, timeout_s=START_TIMEOUT_S)
        )
        points = ranking_points(records, BACKLOG_PREFIX)
        events_per_s = drain_rate(points)
        drain_cpu = cpu_row(e2e.sampler, *drain_window(points))
        log.info("pipeline drained at %.0f events/s (%d rankings)", events_per_s, len(points))
        live_rate = e2e.freshness_rate or events_per_s / 2
        live = asyncio.run(measure_freshness(run, live_rate, e2e.freshness_s, e2e.users, items))
        fresh = {**freshness_row(live), **cpu_row(e2e.sampler, *sending_window(live))}
        for number in range(e2e.runs):
            for rate in e2e.sweep_rates:
                prefix = f"{LIVE_PREFIX}{len(sweep)}"
                waited_s = wait_until_caught_up(run)
                sampled = asyncio.run(
                    measure_freshness(run, rate, e2e.freshness_s, e2e.users, items, prefix)
                )
                row = {"run": number + 1, "caught_up_after_s": waited_s, **freshness_row(sampled)}
                sweep.append({**row, **cpu_row(e2e.sampler, *sending_window(sampled))})
                log.info("freshness at %.0f events/s (run %d): %s", rate, number + 1, row)
        e2e.sampler.forget(WORKER)
        e2e.sampler.forget(WORKER_STATS)

    return {
        "catalog_items": items,
        "model_version": model_version,
        "model_trained": e2e.model is not None,
        "events_per_s": round(events_per_s, 1),
        "rankings_per_event": round(len(points) / e2e.backlog, 3),
        "rankings_by_model_share": round(model_share(records, model_version), 4),
        "drain_cores": drain_cpu["cores"],
        "drain_cpu_us_per_event": drain_cpu["cpu_us_per_event"],
        "freshness_rate_events_per_s": fresh["rate_events_per_s"],
        "freshness_samples": fresh["samples"],
        "freshness_sent": fresh["sent"],
        "freshness_ms_p50": fresh["p50_ms"],
        "freshness_ms_p95": fresh["p95_ms"],
        "freshness_ms_p99": fresh["p99_ms"],
        "freshness_ms_p999": fresh["p999_ms"],
        "freshness_ms_max": fresh["max_ms"],
        "freshness_lag_flat": fresh["lag_flat"],
        "freshness_cores": fresh["cores"],
        "freshness_cpu_us_per_event": fresh["cpu_us_per_event"],
        "freshness_sweep": sweep,
    }


def sending_window(run: FreshnessRun) -> tuple[float, float]:
    """The wall-clock stretch a freshness run sent in."""
    return run.started_at, run.started_at + run.seconds


def cpu_row(sampler: CpuSampler, start: float, end: float) -> dict[str, Any]:
    """Cores by process and the worker's CPU µs per event by stage, over one window."""
    sampler.wait_until_covered(end)
    return {
        "cores": sampler.cores(start, end),
        "cpu_us_per_event": stage_split(sampler, WORKER, WORKER_STATS, start, end),
    }


def run_baselines(e2e: E2eRun, backlog: int) -> dict[str, float]:
    """Drain rates of the four baselines over one backlog of their own, same broker.

    They do not depend on the catalog, so one backlog serves every size; it can
    be far longer than the pipeline's (the spec asks ≥ 1M records), since
    each drains it several times faster.
    """
    run = fresh_settings(e2e.bootstrap, e2e.settings.data_dir / "bench", e2e.settings.partitions)
    events = synthetic_events(backlog, e2e.users, 10_000, seed=8, prefix=BACKLOG_PREFIX)
    produce_s = asyncio.run(produce_events(run.kafka, TopicNames.from_settings(run).events, events))
    del events
    log.info("baseline backlog of %d events produced in %.1fs", backlog, produce_s)
    # Slowest baseline at a few hundred events/s, plus start-up.
    timeout_s = max(START_TIMEOUT_S, backlog / 300)
    rates = {"passthrough_events_per_s": run_passthrough(run, backlog, BACKLOG_PREFIX, timeout_s)}
    for mode in BASELINE_MODES:
        rate = run_faust_baseline(run, backlog, e2e.log_dir, BACKLOG_PREFIX, timeout_s, mode)
        rates[BASELINE_KEYS[mode]] = rate
    return {key: round(value, 1) for key, value in rates.items()}


def run_e2e_bench(
    *,
    catalogs: list[int],
    backlog: int = 40_000,
    users: int = 20_000,
    freshness_s: float = 20.0,
    freshness_rate: float | None = None,
    sweep_rates: Sequence[float] = (),
    runs: int = 1,
    baseline_backlog: int | None = None,
    model: Path | None = None,
    log_dir: Path | None = None,
) -> BenchResult:
    """Run every catalog size on one broker; the largest size's figures are the headline keys.

    ``model`` is a trained sequence artifact to serve (None: seeded weights of
    the production shape); ``baseline_backlog`` the baselines' own backlog
    (default: ``backlog``).
    """
    settings = load_settings()
    log_dir = log_dir or settings.data_dir / "bench" / "logs"
    rows = []
    with bench_broker_process(settings) as (bootstrap, broker_pid), CpuSampler() as sampler:
        sampler.watch(LOAD_GENERATOR, os.getpid())
        if broker_pid is not None:
            sampler.watch(BROKER, broker_pid)
        e2e = E2eRun(
            settings,
            bootstrap,
            sampler,
            backlog,
            users,
            freshness_s,
            log_dir,
            freshness_rate,
            sweep_rates,
            runs,
            model,
        )
        for items in catalogs:
            rows.append(run_catalog(e2e, items))
        baselines = run_baselines(e2e, baseline_backlog or backlog)
    result = BenchResult("e2e")
    for row in rows:
        row.update(baselines)
        result.ratios.append(
            Ratio(
                f"pipeline / passthrough events/s ({row['catalog_items']} items)",
                row["events_per_s"],
                row["passthrough_events_per_s"],
                target=TARGET_FRACTION,
            )
        )
        for mode in BASELINE_MODES:
            result.ratios.append(
                Ratio(
                    f"pipeline / Faust {mode} baseline events/s ({row['catalog_items']} items)",
                    row["events_per_s"],
                    row[BASELINE_KEYS[mode]],
                    target=1.0 if mode == "table" else None,
                )
            )
    headline = rows[-1]
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
    result.figures["baseline_backlog"] = baseline_backlog or backlog
    result.figures["runs"] = runs
    if headline["freshness_sweep"]:
        result.figures["highest_rate_with_p99_within_target"] = highest_rate_within_target(
            headline["freshness_sweep"]
        )
    result.notes.append(
        f"backlog {backlog} events over {users} users (70% clicks, 30% views); catalog = real BERT "
        "vectors of MSN+MovieLens items plus noise, produced straight to item-vectors"
    )
    result.notes.append(
        "rankings_per_event < 1: a user's burst within one micro-batch is ranked once (coalescing)"
    )
    result.notes.append(
        "cores: CPU seconds per second of the worker, the broker and this process (the load "
        "generator and reader); cpu_us_per_event: the worker's thread CPU per applied event by "
        "stage, event_loop_other = the loop's time outside the stages, other_threads = threads "
        "that are neither the loop nor the ranking thread, total = the whole process"
    )
    return result


def highest_rate_within_target(sweep: Sequence[Mapping[str, Any]]) -> float:
    """The highest swept rate at which **every** run kept p99 within the target, lag flat."""
    by_rate: dict[float, list[bool]] = {}
    for row in sweep:
        within = bool(row["samples"]) and row["p99_ms"] <= TARGET_P99_MS and row["lag_flat"]
        by_rate.setdefault(float(row["rate_events_per_s"]), []).append(within)
    return max((rate for rate, runs in by_rate.items() if all(runs)), default=0.0)
