"""A short soak on the live broker: traffic, catalog churn and a hot swap, nothing growing."""

from pathlib import Path

import pytest

from bench.soak import run_soak_bench

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_short_soak_holds_steady_through_churn_and_a_hot_swap(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOMEFEED_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("HOMEFEED_DATA_DIR", str(tmp_path))
    plot = tmp_path / "soak.png"
    result = run_soak_bench(
        minutes=2.0, rate=300, items=3_000, users=400, backlog=3_000, sample_s=10, plot=plot
    )
    figures = result.as_json()
    # Nothing grew without bound after the warm-up (the first minute: memtables,
    # torch's kernel caches and the allocator fill it), and the worker lived.
    assert figures["growth_problems"] == [], figures["samples"]
    assert len(figures["samples"]) >= 11
    # Every event sent got its user's new homepage: none lost under churn and the swap.
    assert figures["events_sent"] >= 0.8 * figures["rate_events_per_s"] * 120
    assert figures["events_unanswered"] == 0
    # The catalog changed all along, and deleted items left the homepages.
    assert min(figures["catalog_added"], figures["catalog_edited"]) > 100
    assert figures["catalog_deleted"] > 100
    assert figures["stale_deleted_shown"] == 0
    # The model swapped halfway without a restart; both versions ranked.
    assert figures["swap_seen_after_s"] is not None and figures["swap_seen_after_s"] < 30
    # (Before the model's index is built the worker may answer with its
    # dot-product fallback; both model versions must have ranked.)
    assert {figures["first_model_version"], figures["swap_model_version"]} <= set(
        figures["rankings_by_model"]
    )
    assert plot.stat().st_size > 10_000
