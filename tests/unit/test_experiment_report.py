"""Experiment reports: Wilson intervals, the two-proportion test, the table and the command."""

import json
from pathlib import Path

import pytest

from ranker.online.proportions import Rate, two_proportion_p_value, wilson_interval
from streams.cli import main
from streams.experiment_report import report_table, variant_figures


def test_wilson_interval_matches_the_textbook() -> None:
    low, high = wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    # Near zero the interval stays inside [0, 1] and is not degenerate.
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.15 < high < 0.17
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_two_proportion_test() -> None:
    # 60/100 against 40/100: z = 2.83, two-sided p = 0.0047.
    assert two_proportion_p_value(Rate(60, 100), Rate(40, 100)) == pytest.approx(0.00468, abs=1e-4)
    assert two_proportion_p_value(Rate(50, 100), Rate(50, 100)) == pytest.approx(1.0)


def replay_report(model_hits: int, dot_hits: int) -> dict:
    return {
        "replay": {
            "variants": {
                "model": {"positives": 2000, "hits": model_hits},
                "dot": {"positives": 2000, "hits": dot_hits},
            }
        },
        "experiment": {
            "salt": "s",
            "variants": {
                "dot": {"ranker": "dot-product", "share": 50},
                "model": {"ranker": "models/seq", "share": 50},
            },
        },
    }


def test_the_table_compares_every_variant_with_the_first_declared() -> None:
    figures = variant_figures(replay_report(model_hits=180, dot_hits=40))
    assert [f.name for f in figures] == ["dot", "model"]
    assert figures[0].p_value is None
    assert figures[1].p_value is not None and figures[1].p_value < 1e-6
    table = report_table(figures)
    assert "| dot | dot-product | 2,000 | 40 | 0.0200 |" in table
    assert "higher, p = " in table and "(significant)" in table
    close = report_table(variant_figures(replay_report(model_hits=42, dot_hits=40)))
    assert "(not significant)" in close


def test_the_command_prints_the_table_and_writes_a_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "replay.json"
    report.write_text(json.dumps(replay_report(180, 40)))
    plot = tmp_path / "variants.png"
    assert main(["experiments", "report", str(report), "--plot", str(plot)]) == 0
    assert "| model | models/seq |" in capsys.readouterr().out
    assert plot.stat().st_size > 5_000


def test_a_file_that_is_not_a_replay_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(SystemExit) as exit_info:
        main(["experiments", "report", str(bad)])
    assert exit_info.value.code == 2
    assert "not a JSON report" in capsys.readouterr().err


def test_the_report_also_prints_the_workers_online_ctr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = replay_report(180, 40)
    data["replay"]["online"] = {
        "model": {"judged": 1500, "clicked": 150},
        "dot": {"judged": 1400, "clicked": 28},
    }
    report = tmp_path / "replay.json"
    report.write_text(json.dumps(data))
    assert main(["experiments", "report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "homepages judged" in out
    assert "| dot | dot-product | 1,400 | 28 | 0.0200 |" in out
    assert "| model | models/seq | 1,500 | 150 | 0.1000 |" in out
