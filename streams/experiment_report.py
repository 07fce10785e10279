"""``homefeed experiments report``: each variant's rate with its interval, against the control.

Reads what a replay with ``--experiment`` wrote (``homefeed eval --replay``): per
variant, the clicks judged against that variant's homepages and how many of
them were on it (HitRate@10, the replay's click-through). The first declared
variant is the control; every other is compared with it by a two-sided
two-proportion z-test.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker.online.proportions import Rate, two_proportion_p_value
from streams.usage import usage_error

SIGNIFICANCE = 0.05


@dataclass(frozen=True, slots=True)
class VariantFigure:
    """One variant's figures in a report."""

    name: str
    ranker: str
    share: float
    rate: Rate
    p_value: float | None  # against the control; None for the control itself


def variant_figures(report: dict[str, Any]) -> list[VariantFigure]:
    """The variants of a replay report, control first, each compared with the control."""
    declared = (report.get("experiment") or {}).get("variants") or {}
    measured = report["replay"].get("variants") or {}
    names = list(declared) or sorted(measured)
    rates = {
        name: Rate(
            int(measured.get(name, {}).get("hits", 0)),
            int(measured.get(name, {}).get("positives", 0)),
        )
        for name in names
    }
    control = rates[names[0]] if names else None
    figures = []
    for position, name in enumerate(names):
        info = declared.get(name, {})
        figures.append(
            VariantFigure(
                name,
                str(info.get("ranker", "?")),
                float(info.get("share", 0.0)),
                rates[name],
                None
                if position == 0 or control is None
                else two_proportion_p_value(rates[name], control),
            )
        )
    return figures


def report_table(
    figures: list[VariantFigure],
    *,
    trials: str = "clicks judged",
    hits: str = "hits",
    rate: str = "HitRate@10",
) -> str:
    """A Markdown table: rate, Wilson 95% interval, p-value and verdict against the control."""
    lines = [
        f"| variant | ranker | {trials} | {hits} | {rate} | 95% interval | vs control |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for figure in figures:
        low, high = figure.rate.interval
        if figure.p_value is None:
            verdict = "control"
        else:
            better = "higher" if figure.rate.value > figures[0].rate.value else "lower"
            verdict = f"{better}, p = {figure.p_value:.2g}" + (
                " (significant)" if figure.p_value < SIGNIFICANCE else " (not significant)"
            )
        lines.append(
            f"| {figure.name} | {figure.ranker} | {figure.rate.trials:,} | {figure.rate.hits:,} | "
            f"{figure.rate.value:.4f} | {low:.4f}–{high:.4f} | {verdict} |"
        )
    return "\n".join(lines)


def save_report_plot(figures: list[VariantFigure], path: Path, rate: str = "HitRate@10") -> None:
    """Each variant's rate with its interval as an error bar, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(1.6 * len(figures) + 2.5, 3.6))
    values = [f.rate.value for f in figures]
    lows = [f.rate.value - f.rate.interval[0] for f in figures]
    highs = [f.rate.interval[1] - f.rate.value for f in figures]
    axis.bar([f.name for f in figures], values, color="#4a7ab5", alpha=0.8)
    axis.errorbar(
        [f.name for f in figures], values, yerr=[lows, highs], fmt="none", color="k", capsize=6
    )
    axis.set_ylabel(f"{rate} (95% Wilson interval)")
    axis.set_ylim(bottom=0)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def cmd_experiments_report(args: argparse.Namespace, settings: object) -> int:
    """Print the per-variant table of a replay report (and write a PNG with ``--plot``)."""
    try:
        report = json.loads(args.report.read_text())
    except FileNotFoundError:
        usage_error(f"{args.report}: no such file")
    except (OSError, ValueError) as error:
        usage_error(f"{args.report}: not a JSON report ({error})")
    if not isinstance(report, dict) or not isinstance(report.get("replay"), dict):
        usage_error(f"{args.report}: not a replay report (no 'replay' figures)")
    figures = variant_figures(report)
    if not figures:
        usage_error(f"{args.report}: no variants (made by `homefeed eval --replay --experiment`)")
    print(report_table(figures))
    online = report["replay"].get("online") or {}
    if online:
        from streams.online_report import rows_from_report

        declared = (report.get("experiment") or {}).get("variants") or {}
        print(
            "\nThe workers' online metrics of the same replay (homepages judged by the next event):"
        )
        print(
            report_table(
                rows_from_report(online, declared),
                trials="homepages judged",
                hits="clicked",
                rate="CTR",
            )
        )
    if args.plot is not None:
        save_report_plot(figures, args.plot)
        print(f"wrote {args.plot}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``homefeed experiments report REPORT.json [--plot PNG]`` and ``experiments online``."""
    experiments = sub.add_parser("experiments", help="A/B experiment reports")
    actions = experiments.add_subparsers(dest="experiments_command", required=True)
    report = actions.add_parser("report", help="per-variant rates with intervals and significance")
    report.add_argument(
        "report", type=Path, help="a report of `homefeed eval --replay --experiment`"
    )
    report.add_argument("--plot", type=Path, default=None, help="also write a PNG here")
    report.set_defaults(func=cmd_experiments_report)
    from streams.online_report import add_online_parser  # it builds on this module's tables

    add_online_parser(actions)
