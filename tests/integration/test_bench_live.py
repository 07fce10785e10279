"""`homefeed bench e2e` on the live broker, small: every figure the issue names is measured."""

from pathlib import Path

import pytest

from bench.e2e import run_e2e_bench

pytestmark = pytest.mark.timeout(900)

REQUIRED = (
    "events_per_s",
    "passthrough_events_per_s",
    "faust_table_events_per_s",
    "faust_no_table_events_per_s",
    "faust_coalesced_events_per_s",
    "drain_cores",
    "drain_cpu_us_per_event",
    "freshness_ms_p50",
    "freshness_ms_p95",
    "freshness_ms_p99",
    "catalog_items",
)


def test_e2e_bench_measures_the_pipeline_both_baselines_and_freshness(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOMEFEED_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("HOMEFEED_DATA_DIR", str(tmp_path))
    result = run_e2e_bench(
        catalogs=[2_000], backlog=1_500, users=300, freshness_s=3.0, sweep_rates=[20]
    )
    figures = result.as_json()
    assert all(key in figures for key in REQUIRED)
    assert figures["catalog_items"] == 2_000
    # The worker ranked with the loaded sequence model, not a fallback.
    assert figures["model_version"].startswith("seq-")
    assert figures["rankings_by_model_share"] > 0.95
    # Each is measured, not assumed: a worker that ranked nothing would give 0.
    assert figures["events_per_s"] > 0
    assert figures["faust_table_events_per_s"] > 0 and figures["passthrough_events_per_s"] > 0
    assert figures["faust_no_table_events_per_s"] > 0
    assert figures["faust_coalesced_events_per_s"] > 0
    # Cores are sampled for the worker and the bench itself while it drained
    # (the broker is the session's, not the bench's, so it is not sampled here).
    assert figures["drain_cores"]["worker"] > 0 and "load_generator" in figures["drain_cores"]
    # At least one homepage per user (300 users, 1,500 events); at most one per
    # event. Where it falls between depends on how many of a user's events one
    # micro-batch coalesces, which is timing, not correctness.
    assert 300 / 1_500 <= figures["rankings_per_event"] <= 1.0
    # Open-loop live events at half the drain rate (Poisson: about rate × 3 s of
    # them): nearly every one got its user's new homepage.
    expected = figures["freshness_rate_events_per_s"] * 3.0
    assert 0.6 * expected <= figures["freshness_sent"] <= 1.4 * expected
    assert figures["freshness_samples"] >= 0.9 * figures["freshness_sent"]
    assert 0 < figures["freshness_ms_p50"] <= figures["freshness_ms_p99"]
    assert (
        figures["freshness_ms_p99"] <= figures["freshness_ms_p999"] <= figures["freshness_ms_max"]
    )
    (swept,) = figures["freshness_sweep"]
    assert swept["rate_events_per_s"] == 20 and swept["sent"] >= 30
    assert swept["samples"] >= 0.9 * swept["sent"] and swept["lag_flat"]
    # The worker's CPU per live event, split by stage from its stats file: the
    # stages ran (ranking above all) and the process total covers them.
    split = swept["cpu_us_per_event"]
    assert split["events"] > 0 and split["ranking"] > 0 and split["state"] > 0
    assert split["total"] >= split["ranking"] + split["state"]
    assert "highest_rate_with_p99_within_target" in figures
