"""``homefeed bench soak``: long open-loop traffic against one worker, with nothing leaking.

1. A derived catalog (bench/catalog.py) goes straight to item-vectors, and a
   sequence model artifact of the production shape over those items goes into
   a models folder the worker watches.
2. One ``homefeed worker --role ranker`` drains a backlog: its sustained rate.
3. For ``--minutes``, Poisson traffic at half that rate (bench/open_loop.py)
   while the catalog keeps changing (adds, edits and deletes every few
   seconds, as an indexer would publish them) and, halfway, a new model
   version lands in the folder (a hot swap).
4. Every ``--sample-s``: the worker's RSS and open files, its state folder
   (RocksDB), the group's lag and the freshness p99 of the interval. The
   report gives each at the settled start and the end, their slopes per hour,
   and whether anything grew without bound (bench/soak_stats.py).

The model's weights are seeded, not trained: the soak measures resources and
correctness under churn, which depend on the model's shape, not its quality.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.e2e import BACKLOG_PREFIX, START_TIMEOUT_S, ranking_points
from bench.live import (
    BENCH_ENCODER_VERSION,
    bench_broker,
    drain_rate,
    fresh_settings,
    model_env,
    produce_events,
    publish_catalog,
    ranking_rate,
    read_topic,
    running_workers,
    seeded_model,
    synthetic_events,
)
from bench.open_loop import OpenLoopTraffic
from bench.report import BenchResult, percentiles
from bench.soak_stats import SoakSample, growth_problems, summary
from streams.admin import GroupProgress
from streams.settings import Settings, load_settings
from streams.topics import TopicNames
from streams.wire import ItemVector, now_ms

log = logging.getLogger(__name__)

CHURN_EVERY_S = 5.0


class CatalogChurn:
    """Adds, edits and deletes items on item-vectors, as the indexer publishes them."""

    def __init__(self, settings: Settings, items: int, per_round: int, traffic: OpenLoopTraffic):
        self._settings, self._traffic = settings, traffic
        self._topic = TopicNames.from_settings(settings).item_vectors
        self._live = list(range(items))  # ids still in the catalog (item-N)
        self._next_id = items
        self._per_round = per_round
        self._rng = np.random.default_rng(17)
        self.added = self.edited = self.deleted = 0

    @property
    def size(self) -> int:
        """Items in the catalog now."""
        return len(self._live)

    async def run(self, seconds: float) -> None:
        """One round every ``CHURN_EVERY_S`` for ``seconds``."""
        from aiokafka import AIOKafkaProducer

        from bench.catalog import derived_catalog

        producer = AIOKafkaProducer(**self._settings.kafka.aiokafka(), linger_ms=20, acks=1)
        await producer.start()
        started = time.monotonic()
        rounds = 0
        try:
            while time.monotonic() - started < seconds:
                rounds += 1
                vectors, titles, categories = derived_catalog(
                    2 * self._per_round, seed=1_000 + rounds
                )
                sends = []
                for row in range(2 * self._per_round):
                    if row < self._per_round:  # a brand-new item
                        item = self._next_id
                        self._next_id += 1
                        self._live.append(item)
                        self.added += 1
                    else:  # an edit: a new vector (new text) for a live item
                        item = self._live[int(self._rng.integers(0, len(self._live)))]
                        self.edited += 1
                    message = ItemVector(
                        f"item-{item}",
                        vectors[row],
                        BENCH_ENCODER_VERSION,
                        title=titles[row],
                        category=categories[row],
                    )
                    sends.append((message.item_id, message.encode()))
                gone = self._delete(self._per_round)
                for item_id, value in sends:
                    await producer.send(self._topic, key=item_id.encode(), value=value)
                for item_id in gone:
                    await producer.send(self._topic, key=item_id.encode(), value=None)
                await producer.flush()
                self._traffic.note_deleted(gone, now_ms())
                await asyncio.sleep(max(0.0, started + rounds * CHURN_EVERY_S - time.monotonic()))
        finally:
            await producer.stop()

    def _delete(self, count: int) -> list[str]:
        picks = self._rng.choice(len(self._live), size=min(count, len(self._live)), replace=False)
        gone = {int(pick) for pick in picks.tolist()}
        ids = [f"item-{self._live[pick]}" for pick in sorted(gone)]
        self._live = [item for pick, item in enumerate(self._live) if pick not in gone]
        self.deleted += len(ids)
        return ids


def folder_mb(folder: Path) -> float:
    """Bytes of every file under ``folder``, in MiB (files vanishing meanwhile are skipped)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # RocksDB compaction removed it between listing and stat
            continue
    return total / 2**20


class Sampler:
    """Takes a :class:`SoakSample` of one worker process every ``interval_s``."""

    def __init__(
        self,
        pid: int,
        state_dir: Path,
        progress: GroupProgress,
        traffic: OpenLoopTraffic,
        churn: CatalogChurn,
    ) -> None:
        import psutil

        self._process = psutil.Process(pid)
        self._state_dir, self._progress = state_dir, progress
        self._traffic, self._churn = traffic, churn
        self.samples: list[SoakSample] = []

    async def run(self, seconds: float, interval_s: float) -> None:
        """Sample until ``seconds`` have passed (the last sample at the end)."""
        started = last = time.monotonic()
        while True:
            await asyncio.sleep(min(interval_s, max(0.0, started + seconds - time.monotonic())))
            now = time.monotonic()
            self.samples.append(await asyncio.to_thread(self._take, started, last, now))
            log.info("soak sample %s", self.samples[-1].as_dict())
            last = now
            if now - started >= seconds - 0.5:
                return

    def _take(self, started: float, since: float, now: float) -> SoakSample:
        latencies = self._traffic.log.window(since, now)
        _, lag = self._progress.read()
        return SoakSample(
            minute=(now - started) / 60.0,
            rss_mb=self._process.memory_info().rss / 2**20,
            open_fds=self._process.num_fds(),
            state_mb=folder_mb(self._state_dir),
            lag=lag,
            p99_ms=percentiles(latencies, (99,))[99],
            answered=len(latencies),
            catalog_items=self._churn.size,
        )


async def soak_phase(
    run: Settings,
    pid: int,
    rate: float,
    seconds: float,
    users: int,
    items: int,
    sample_s: float,
    churn_per_round: int,
    models: Path,
    swap_model: bool,
) -> tuple[OpenLoopTraffic, CatalogChurn, list[SoakSample], dict[str, Any]]:
    """Traffic, churn, sampling and the mid-run hot swap, all at once."""
    traffic = OpenLoopTraffic(run, rate, users, items)
    churn = CatalogChurn(run, items, churn_per_round, traffic)
    progress = GroupProgress(run.kafka, TopicNames.from_settings(run).events, run.app_id)
    sampler = Sampler(pid, run.data_dir / "w0", progress, traffic, churn)
    swap: dict[str, Any] = {}

    async def hot_swap() -> None:
        if not swap_model:
            return
        await asyncio.sleep(seconds / 2)
        item_ids = [f"item-{row}" for row in range(items)]
        swap["version"] = await asyncio.to_thread(seeded_model, item_ids, models / "v2", 2)
        swap["at"] = time.monotonic()

    try:
        await asyncio.gather(
            traffic.run(seconds),
            churn.run(seconds) if churn_per_round else asyncio.sleep(0),
            sampler.run(seconds, sample_s),
            hot_swap(),
        )
    finally:
        progress.close()
    seen = traffic.log.first_seen.get(swap.get("version", ""))
    swap_figures = {
        "swap_model_version": swap.get("version", ""),
        "swap_seen_after_s": round(seen - swap["at"], 1) if seen and "at" in swap else None,
    }
    return traffic, churn, sampler.samples, swap_figures


def save_soak_plot(samples: list[SoakSample], path: Path, title: str) -> None:
    """One panel per sampled metric against minutes, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("rss_mb", "worker RSS (MiB)"),
        ("open_fds", "open files"),
        ("state_mb", "state folder (MiB)"),
        ("lag", "consumer lag (events)"),
        ("p99_ms", "freshness p99 (ms)"),
        ("catalog_items", "catalog items"),
    ]
    figure, axes = plt.subplots(2, 3, figsize=(13, 6), sharex=True)
    minutes = [sample.minute for sample in samples]
    for axis, (metric, label) in zip(axes.flat, panels, strict=True):
        axis.plot(minutes, [getattr(sample, metric) for sample in samples], marker=".")
        axis.set_title(label, fontsize="medium")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    for axis in axes[1]:
        axis.set_xlabel("minute")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_soak_bench(
    *,
    minutes: float,
    rate: float | None = None,
    items: int = 100_000,
    users: int = 10_000,
    backlog: int = 20_000,
    sample_s: float = 60.0,
    churn_per_round: int = 20,
    plot: Path | None = None,
    log_dir: Path | None = None,
    swap_model: bool = True,
) -> BenchResult:
    """Measure the drain rate, then soak at half of it (or at ``rate``)."""
    settings = load_settings()
    log_dir = log_dir or settings.data_dir / "bench" / "logs"
    with bench_broker(settings) as bootstrap:
        run = fresh_settings(bootstrap, settings.data_dir / "bench", partitions=settings.partitions)
        topics = TopicNames.from_settings(run)
        models = run.data_dir / "models"
        first_version = seeded_model([f"item-{row}" for row in range(items)], models / "v1", 1)
        asyncio.run(publish_catalog(run, items, seed=items))
        events = synthetic_events(backlog, users, items, seed=7, prefix=BACKLOG_PREFIX)
        asyncio.run(produce_events(run.kafka, topics.events, events))
        extra_env = model_env(models)
        worker_logs = log_dir / run.topic_prefix.rstrip(".")
        with running_workers(run, 1, worker_logs, extra_env=extra_env) as workers:
            records = asyncio.run(
                read_topic(run.kafka, topics.rankings, run.partitions, backlog, START_TIMEOUT_S)
            )
            points = ranking_points(records, BACKLOG_PREFIX)
            drained, ranked = drain_rate(points), ranking_rate(points)
            # Half of what the worker sustains live: live events need a ranking
            # each, so the rankings/s of the drain bounds it, not its events/s.
            soak_rate = rate or min(drained, ranked) / 2
            log.info(
                "drained at %.0f events/s (%.0f rankings/s); soaking at %.0f for %g min",
                drained,
                ranked,
                soak_rate,
                minutes,
            )
            traffic, churn, samples, swap = asyncio.run(
                soak_phase(
                    run,
                    workers[0].pid,
                    soak_rate,
                    minutes * 60.0,
                    users,
                    items,
                    sample_s,
                    churn_per_round,
                    models,
                    swap_model,
                )
            )
            alive = workers[0].poll() is None
    # Up to three memtables per partition, each as large again in the write-ahead log.
    memtables_mb = 3 * run.partitions * run.table_write_buffer_mb
    return soak_result(
        minutes,
        (drained, ranked),
        soak_rate,
        traffic,
        churn,
        samples,
        swap,
        first_version,
        alive,
        plot,
        memtables_mb,
    )


def soak_result(
    minutes: float,
    drained: tuple[float, float],
    rate: float,
    traffic: OpenLoopTraffic,
    churn: CatalogChurn,
    samples: list[SoakSample],
    swap: dict[str, Any],
    first_version: str,
    alive: bool,
    plot: Path | None,
    memtables_mb: float,
) -> BenchResult:
    """The figures, the bounded-growth verdict and the plot."""
    result = BenchResult("soak")
    latencies = [latency for _, latency in traffic.log.answered]
    spread = percentiles(latencies, (50, 99, 99.9))
    problems = growth_problems(samples, rate, state_allowance_mb=memtables_mb)
    if not alive:
        problems.append("the worker died during the soak")
    result.figures.update(
        minutes=minutes,
        drain_events_per_s=round(drained[0], 1),
        drain_rankings_per_s=round(drained[1], 1),
        rate_events_per_s=round(rate, 1),
        events_sent=traffic.log.sent,
        events_answered=len(latencies),
        events_unanswered=traffic.unanswered,
        late_sends=traffic.log.late_sends,
        freshness_ms_p50=round(spread[50], 1),
        freshness_ms_p99=round(spread[99], 1),
        freshness_ms_p999=round(spread[99.9], 1),
        freshness_ms_max=round(max(latencies, default=float("nan")), 1),
        catalog_added=churn.added,
        catalog_edited=churn.edited,
        catalog_deleted=churn.deleted,
        stale_deleted_shown=traffic.log.stale_deleted_shown,
        rocksdb_memtable_budget_mb=memtables_mb,
        first_model_version=first_version,
        rankings_by_model={version: count for version, count in traffic.log.versions.items()},
        **swap,
        **summary(samples),
        growth_problems=problems,
        samples=[sample.as_dict() for sample in samples],
    )
    if plot is not None and samples:
        save_soak_plot(samples, plot, f"soak: {rate:.0f} events/s for {minutes:g} min")
        result.figures["plot"] = str(plot)
    result.notes.append(
        "open loop: Poisson arrivals, latency from the intended send time to the user's ranking; "
        f"catalog churn every {CHURN_EVERY_S:g} s straight to item-vectors; "
        "model weights seeded at the production shape (resources, not quality)"
    )
    return result
