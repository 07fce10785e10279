"""``homefeed experiments online``: live CTR per variant from the online-metrics topic.

Reads the compacted ``online-metrics`` topic (the latest figures of every
partition, window, variant and model), sums them per variant over the last
``--minutes`` (default: everything kept) and prints CTR with its Wilson 95%
interval, each variant against the control (the first declared variant of
the configured experiment, else the first by name), then the served lists'
nDCG, click positions, catalog coverage and the trending and exploration
slots' click rates.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ranker.online.proportions import Rate, two_proportion_p_value
from ranker.online.windows import OnlineFigures, figures_by_variant
from streams.experiment_report import VariantFigure, report_table, save_report_plot
from streams.kafka_connection import KafkaConnection
from streams.served_log import topic_records
from streams.settings import Settings
from streams.topics import TopicNames
from streams.usage import usage_error
from streams.wire import InvalidMessage, OnlineWindow, now_ms

log = logging.getLogger(__name__)


def latest_windows(records: object) -> list[OnlineWindow]:
    """The newest record of each key (what compaction will keep), decoded."""
    latest: dict[bytes, bytes | None] = {}
    for record in records:  # type: ignore[attr-defined]
        latest[bytes(record.key or b"")] = record.value
    windows = []
    for raw in latest.values():
        if raw is None:
            continue
        try:
            windows.append(OnlineWindow.decode(raw))
        except InvalidMessage:
            log.warning("skipping an unreadable online-metrics record")
    return windows


def settled_figures(
    kafka: KafkaConnection,
    topic: str,
    since_ms: int,
    *,
    publish_s: float,
    timeout_s: float = 90.0,
) -> dict[str, OnlineFigures]:
    """Per-variant figures once the workers stop changing them (bounded by ``timeout_s``).

    A homepage's figures reach the topic up to a publish interval after its
    next event; two reads a couple of intervals apart that agree mean the
    workers have published all they know.
    """
    deadline = time.monotonic() + timeout_s
    previous: dict[str, tuple[int, int, int]] | None = None
    while True:
        figures = figures_by_variant(latest_windows(topic_records(kafka, topic)), since_ms)
        totals = {name: (f.served, f.judged, f.clicked) for name, f in figures.items()}
        if totals and totals == previous:
            return figures
        if time.monotonic() > deadline:
            log.warning("online figures still changing after %.0fs; reporting them", timeout_s)
            return figures
        previous = totals
        time.sleep(2 * publish_s + 1)


def ordered(measured: Iterable[str], declared: Iterable[str]) -> list[str]:
    """Variant names, the declared ones first in their order (the control first)."""
    names = set(measured)
    declared = list(declared)
    return [name for name in declared if name in names] + sorted(names - set(declared))


def details_table(figures: dict[str, OnlineFigures], names: list[str]) -> str:
    """The other online figures of each variant, as a Markdown table."""
    lines = [
        "| variant | served | nDCG | clicks at slots 1/2/3 | items shown | coverage | "
        "trending slots CTR | exploration slots CTR | models |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for name in names:
        f = figures[name]
        top = "/".join(str(n) for n in (f.click_positions + [0, 0, 0])[:3])
        slot = {kind: f.slot_ctr[kind] for kind in f.slot_ctr}
        trending = f"{slot['trending'].value:.4f}" if "trending" in slot else "–"
        explore = f"{slot['exploration'].value:.4f}" if "exploration" in slot else "–"
        lines.append(
            f"| {name} | {f.served:,} | {f.ndcg:.4f} | {top} | {f.items_shown:,.0f} | "
            f"{f.coverage:.1%} | {trending} | {explore} | {', '.join(f.model_versions)} |"
        )
    return "\n".join(lines)


def rows_from_report(
    online: dict[str, dict[str, Any]], declared: dict[str, dict[str, Any]]
) -> list[VariantFigure]:
    """Rows for :func:`report_table`: each variant's CTR, tested against the control.

    ``online`` is figures as :meth:`OnlineFigures.to_dict` writes them (a
    replay report's, or the topic's); ``declared`` the experiment's variants.
    """
    names = ordered(online, declared)
    rates = {
        name: Rate(int(online[name]["clicked"]), int(online[name]["judged"])) for name in names
    }
    return [
        VariantFigure(
            name,
            str(declared.get(name, {}).get("ranker", "?")),
            float(declared.get(name, {}).get("share", 0.0)),
            rates[name],
            None if index == 0 else two_proportion_p_value(rates[name], rates[names[0]]),
        )
        for index, name in enumerate(names)
    ]


def cmd_experiments_online(args: argparse.Namespace, settings: Settings) -> int:
    """Print live CTR per variant (and write JSON/PNG when asked)."""
    topic = TopicNames.from_settings(settings).online_metrics
    try:
        windows = latest_windows(topic_records(settings.kafka, topic, args.timeout))
    except (ValueError, TimeoutError) as error:
        usage_error(f"{error} (is a worker with online metrics running?)")
    since = now_ms() - int(args.minutes * 60_000) if args.minutes else 0
    figures = figures_by_variant(windows, since)
    if not figures:
        usage_error(f"{topic}: no online figures yet (no homepage has been judged)")
    experiment = settings.experiment
    declared = {
        v.name: {"ranker": v.ranker, "share": v.share}
        for v in (experiment.variants if experiment else ())
    }
    online = {name: f.to_dict() for name, f in figures.items()}
    names = ordered(online, declared)
    rows = rows_from_report(online, declared)
    print(report_table(rows, trials="homepages judged", hits="clicked", rate="CTR"))
    print()
    print(details_table(figures, names))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({name: online[name] for name in names}, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot is not None:
        save_report_plot(rows, args.plot, rate="CTR")
        print(f"wrote {args.plot}")
    return 0


def add_online_parser(actions: argparse._SubParsersAction) -> None:
    """``homefeed experiments online [--minutes M] [--json PATH] [--plot PNG]``."""
    online = actions.add_parser("online", help="live CTR per variant from the online-metrics topic")
    online.add_argument(
        "--minutes", type=float, default=0.0, help="only the last M minutes (default: all kept)"
    )
    online.add_argument("--json", type=Path, default=None, help="also write the figures here")
    online.add_argument("--plot", type=Path, default=None, help="also write a PNG here")
    online.add_argument(
        "--timeout", type=float, default=60.0, help="longest wait to read the topic (s)"
    )
    online.set_defaults(func=cmd_experiments_online)
