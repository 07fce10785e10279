"""The e2e freshness probe: time from an event's intended send time to its user's ranking.

Traffic is open loop (bench/open_loop.py): Poisson arrivals at a fixed rate,
each event timed from when it was *meant* to be sent, so a stalled worker or
producer shows in the latency instead of slowing the generator down. The
consumer group's lag is read as sending starts and as it stops: a worker that
keeps up ends where it started (plus the few seconds its commits trail by).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from bench.open_loop import OpenLoopTraffic
from bench.report import percentiles
from streams.admin import GroupProgress
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)

LIVE_PREFIX = "f"
DRAIN_S = 10.0  # after the last send, how long the last answers are waited for
COMMIT_SLACK_S = 5.0  # lag allowance: Faust commits every few seconds
CATCH_UP_TIMEOUT_S = 300.0
CAUGHT_UP_LAG = 0  # nothing is sent between rates, so the worker commits its way to 0


@dataclass(frozen=True, slots=True)
class FreshnessRun:
    """One rate's latencies and the group's lag as sending started and stopped."""

    rate: float
    started_at: float  # epoch seconds when sending began
    seconds: float  # how long it sent
    latencies: list[float]
    sent: int
    unanswered: int
    lag_start: int
    lag_end: int

    @property
    def lag_flat(self) -> bool:
        """The lag did not grow by more than the commit cadence explains."""
        return self.lag_end <= self.lag_start + self.rate * COMMIT_SLACK_S


async def measure_freshness(
    settings: Settings,
    rate: float,
    seconds: float,
    users: int,
    items: int,
    prefix: str = LIVE_PREFIX,
) -> FreshnessRun:
    """Open-loop traffic at ``rate`` for ``seconds``; each event's latency (ms).

    Each call needs its own ``prefix``: the worker drops repeated event ids.
    """
    progress = GroupProgress(
        settings.kafka, TopicNames.from_settings(settings).events, settings.app_id
    )
    try:
        _, lag_start = await asyncio.to_thread(progress.read)
        traffic = OpenLoopTraffic(settings, rate, users, items, prefix=prefix, seed=11)

        async def lag_when_sending_stops() -> int:
            await asyncio.sleep(seconds)
            return (await asyncio.to_thread(progress.read))[1]

        started_at = time.time()
        _, lag_end = await asyncio.gather(traffic.run(seconds, DRAIN_S), lag_when_sending_stops())
    finally:
        progress.close()
    if traffic.unanswered:
        log.warning(
            "%d live events got no ranking within %g s of the end", traffic.unanswered, DRAIN_S
        )
    return FreshnessRun(
        rate=rate,
        started_at=started_at,
        seconds=seconds,
        latencies=[latency for _, latency in traffic.log.answered],
        sent=traffic.log.sent,
        unanswered=traffic.unanswered,
        lag_start=lag_start,
        lag_end=lag_end,
    )


def wait_until_caught_up(settings: Settings, timeout_s: float = CATCH_UP_TIMEOUT_S) -> float:
    """Wait (at most ``timeout_s``) until the worker has committed every event sent so far
    (lag ``CAUGHT_UP_LAG``); the seconds waited.

    A rate the worker cannot sustain leaves a backlog behind; the next rate
    measured on top of it would time that backlog, not its own traffic.
    """
    progress = GroupProgress(
        settings.kafka, TopicNames.from_settings(settings).events, settings.app_id
    )
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            if progress.read()[1] <= CAUGHT_UP_LAG:
                break
            time.sleep(1.0)
    finally:
        progress.close()
    waited = time.monotonic() - started
    if waited >= timeout_s:
        log.warning("the worker still lags after %.0f s; measuring on top of its backlog", waited)
    return round(waited, 1)


def freshness_row(run: FreshnessRun) -> dict[str, float]:
    """Rate, samples, latency percentiles and lag of one freshness run."""
    latency = percentiles(run.latencies, (50, 95, 99, 99.9))
    return {
        "rate_events_per_s": round(run.rate, 1),
        "samples": len(run.latencies),
        "sent": run.sent,
        "unanswered": run.unanswered,
        "p50_ms": round(latency[50], 1),
        "p95_ms": round(latency[95], 1),
        "p99_ms": round(latency[99], 1),
        "p999_ms": round(latency[99.9], 1),
        "max_ms": round(max(run.latencies, default=float("nan")), 1),
        "lag_start": run.lag_start,
        "lag_end": run.lag_end,
        "lag_flat": run.lag_flat,
    }
