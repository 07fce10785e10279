"""The soak's verdict and its traffic, without a broker."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from bench.open_loop import poisson_events
from bench.soak_stats import SoakSample, growth_problems, settled, slope_per_hour, summary


def samples(rss: list[float], lag: list[int], state: float = 10.0) -> list[SoakSample]:
    return [
        SoakSample(
            minute=float(minute),
            rss_mb=value,
            open_fds=120,
            state_mb=state,
            lag=backlog,
            p99_ms=40.0,
            answered=600,
            catalog_items=1_000,
        )
        for minute, (value, backlog) in enumerate(zip(rss, lag, strict=True), start=1)
    ]


def test_a_steady_worker_passes_and_its_slopes_are_flat() -> None:
    steady = samples([500, 610, 600, 605, 598, 603, 601, 604, 600, 602], [40] * 10)
    assert growth_problems(steady, rate=100) == []
    figures = summary(steady)
    # The warm-up (first 20%: the jump from 500 to 610) is not in the slope.
    assert figures["rss_mb_start"] == 600 and abs(figures["rss_mb_slope_per_h"]) < 60
    assert figures["lag_slope_per_h"] == 0


def test_memory_that_keeps_growing_is_reported() -> None:
    leaking = samples([500 + 40 * minute for minute in range(10)], [40] * 10)
    (problem,) = growth_problems(leaking, rate=100)
    assert "memory grew" in problem
    assert slope_per_hour(settled(leaking), "rss_mb") == pytest.approx(2_400)


def test_a_worker_falling_behind_is_reported() -> None:
    behind = samples([600] * 10, [100 * minute**2 for minute in range(10)])
    (problem,) = growth_problems(behind, rate=100)  # bound: 10 s of traffic = 1,000 events
    assert "lag ended at 8100" in problem


def test_too_few_samples_are_not_a_pass() -> None:
    assert growth_problems(samples([600], [0]), rate=100) != []


def test_poisson_traffic_keeps_its_rate_and_is_reproducible() -> None:
    first = list(itertools.islice(poisson_events(200.0, 50, 1_000, seed=3, prefix="s"), 20_000))
    again = list(itertools.islice(poisson_events(200.0, 50, 1_000, seed=3, prefix="s"), 20_000))
    assert [event.event_id for _, event in first] == [event.event_id for _, event in again]
    offsets = [offset for offset, _ in first]
    assert offsets == sorted(offsets)
    assert 20_000 / offsets[-1] == pytest.approx(200.0, rel=0.03)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    # Exponential gaps: the spread equals the mean (a fixed-interval sender would have none).
    mean = sum(gaps) / len(gaps)
    spread = (sum((gap - mean) ** 2 for gap in gaps) / len(gaps)) ** 0.5
    assert spread == pytest.approx(mean, rel=0.05)
    assert {event.user_id for _, event in first} <= {f"user-{n}" for n in range(50)}


def test_a_short_run_keeps_its_first_minute_as_warm_up() -> None:
    def run(rss_at: Callable[[float], float]) -> list[SoakSample]:
        minutes = [round(step / 6, 2) for step in range(1, 13)]  # every 10 s for 2 minutes
        return [SoakSample(m, rss_at(m), 60, 5.0, 50, 40.0, 500, 3_000) for m in minutes]

    # Caches and arenas fill in the first minute, then memory holds.
    filling = run(lambda minute: 1_000 + 400 * min(minute, 1.0))
    assert settled(filling)[0].minute > 1.0
    assert growth_problems(filling, rate=300) == []
    # Memory that grows all along is reported, warm-up or not.
    leaking = run(lambda minute: 1_000 + 600 * minute)
    assert growth_problems(leaking, rate=300) == ["worker memory grew from 1702 to 2200 MiB"]
