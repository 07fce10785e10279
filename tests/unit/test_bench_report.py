"""Benchmark reporting: ratios come from the figures of the same run; JSON has the issue's keys."""

import json
from pathlib import Path

from bench.live import drain_rate, event_sequence, ranking_rate
from bench.report import BenchResult, Ratio, emit, percentiles


def test_ratio_is_value_over_baseline_and_judged_against_its_target() -> None:
    ratio = Ratio("pipeline / passthrough", 1500.0, 3000.0, target=0.5)
    assert ratio.ratio == 0.5
    assert ratio.met
    assert not Ratio("x", 1.0, 4.0, target=0.5).met
    assert Ratio("no baseline", 1.0, 0.0).ratio == 0.0


def test_emit_prints_ratios_first_and_writes_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    result = BenchResult(
        "demo", figures={"events_per_s": 10.0}, ratios=[Ratio("a / b", 10.0, 20.0)]
    )
    emit(result, tmp_path / "out.json")
    lines = capsys.readouterr().out.splitlines()
    assert "a / b" in lines[1] and "0.500x" in lines[1]
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["events_per_s"] == 10.0
    assert saved["ratios"] == {"a / b": 0.5}
    assert saved["conditions"]["cpus"] >= 1


def test_percentiles_of_known_samples() -> None:
    spread = percentiles(list(range(1, 101)))
    assert spread[50] == 50.5
    assert 99 <= spread[99] <= 100


def test_drain_rate_ignores_start_up_and_tail() -> None:
    # 1,000 events/s steady, after a 5 s start-up in which nothing was handled.
    points = [(5_000 + seq, seq) for seq in range(0, 10_000)]
    assert abs(drain_rate(points) - 1000.0) < 1.0


def test_ranking_rate_counts_rankings_not_the_events_they_answer() -> None:
    # 1,000 events/s, but each ranking answers five events (a user's coalesced batch).
    points = [(5_000 + seq, seq) for seq in range(0, 10_000, 5)]
    assert abs(drain_rate(points) - 1000.0) < 2.0
    assert abs(ranking_rate(points) - 200.0) < 1.0


def test_event_sequence_reads_only_its_own_prefix() -> None:
    assert event_sequence("b-42", "b") == 42
    assert event_sequence("f-42", "b") is None
    assert event_sequence(None, "b") is None
