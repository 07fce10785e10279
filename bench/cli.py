"""``homefeed bench e2e|encoder|index|memory|scale|sequence|catalog|soak``: figures and ratios.

They never pass or fail on time; ``--json OUT`` also writes the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streams.settings import Settings


def _sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part]


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Run one benchmark and print (and optionally save) its result."""
    from bench.report import emit

    if args.bench == "e2e":
        from bench.e2e import run_e2e_bench

        result = run_e2e_bench(
            catalogs=_sizes(args.catalogs),
            backlog=args.backlog,
            users=args.users,
            freshness_s=args.freshness_s,
            freshness_rate=args.freshness_rate,
            sweep_rates=_sizes(args.freshness_rates),
            runs=args.runs,
            baseline_backlog=args.baseline_backlog,
            model=_e2e_model(args.model, settings),
        )
    elif args.bench == "encoder":
        from bench.encoder import run_encoder_bench

        result = run_encoder_bench(
            limit=args.limit,
            device=settings.device,
            dtype=settings.encoder_dtype,
            backend=settings.encoder_backend,
            batch_size=settings.encoder_batch_size,
            max_length=settings.encoder_max_length,
        )
    elif args.bench == "index":
        from bench.index import run_index_bench

        result = run_index_bench(_sizes(args.sizes), queries=args.queries, hnsw_max=args.hnsw_max)
    elif args.bench == "memory":
        from bench.memory import run_memory_bench

        result = run_memory_bench(
            users=args.users, items=args.items, with_worker=not args.no_worker
        )
    elif args.bench == "catalog":
        from bench.catalog_work import run_catalog_bench

        result = run_catalog_bench(args.data or settings.default_dataset)
    elif args.bench == "soak":
        from bench.soak import run_soak_bench

        result = run_soak_bench(
            minutes=args.minutes,
            rate=args.rate,
            items=args.items,
            users=args.users,
            sample_s=args.sample_s,
            plot=args.plot,
            churn_per_round=args.churn,
            swap_model=not args.no_swap,
            backlog=args.backlog,
        )
    elif args.bench == "sequence":
        from bench.sequence import run_sequence_bench

        result = run_sequence_bench(items=args.items)
    else:
        from bench.scale import run_scale_bench

        result = run_scale_bench(
            worker_counts=_sizes(args.workers),
            items=args.items,
            backlog=args.backlog,
            users=args.users,
        )
    emit(result, args.json)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``homefeed bench``."""
    bench = sub.add_parser("bench", help="benchmarks: figures and ratios vs a same-run baseline")
    bench.add_argument(
        "bench",
        choices=["e2e", "encoder", "index", "memory", "scale", "sequence", "catalog", "soak"],
    )
    bench.add_argument(
        "--json", type=Path, default=None, help="also write the figures to this JSON file"
    )
    bench.add_argument(
        "--catalogs",
        default="100000",
        help="e2e: catalog sizes (comma-separated; default 100000, what production runs)",
    )
    bench.add_argument(
        "--runs",
        type=_count,
        default=3,
        help="e2e: times the freshness sweep is repeated (default 3)",
    )
    bench.add_argument(
        "--baseline-backlog",
        type=_count,
        default=1_000_000,
        help="e2e: events the Kafka and Faust baselines drain (default 1000000)",
    )
    bench.add_argument(
        "--model",
        default="trained",
        help="e2e: the sequence model the worker serves: 'trained' (the demo's model, trained "
        "on the shared MovieLens data once and cached; default), 'seeded' (untrained weights "
        "of the same shape), or an artifact folder",
    )
    bench.add_argument(
        "--backlog",
        type=int,
        default=30_000,
        help="e2e/scale/soak: events in the drained backlog (soak: it also fills histories)",
    )
    bench.add_argument(
        "--users",
        type=int,
        default=None,
        help="e2e/scale: users in the backlog (default 10000); "
        "memory: users in the worker (default 100000)",
    )
    bench.add_argument(
        "--freshness-s",
        type=float,
        default=60.0,
        help="e2e: seconds of open-loop traffic per rate (half the drain rate, then the sweep)",
    )
    bench.add_argument(
        "--freshness-rate",
        type=float,
        default=None,
        help="e2e: live events/s for freshness (default: half the measured sustained rate)",
    )
    bench.add_argument(
        "--freshness-rates",
        default="50,100,250,1000",
        help="e2e: also measure freshness at these live events/s (comma-separated; "
        "default 50,100,250,1000; '' for none), to find the highest rate within the p99 target; "
        "each waits until the worker has caught up with the one before",
    )
    bench.add_argument(
        "--limit", type=int, default=None, help="encoder: encode at most N of the real texts"
    )
    bench.add_argument(
        "--sizes", default="100000,1000000", help="index: catalog sizes (comma-separated)"
    )
    bench.add_argument("--queries", type=int, default=500, help="index: held-out queries")
    bench.add_argument(
        "--hnsw-max", type=int, default=200_000, help="index: largest catalog to build HNSW32 for"
    )
    bench.add_argument(
        "--items",
        type=int,
        default=None,
        help="memory, sequence (default 100000) / scale (default 10000): catalog size",
    )
    bench.add_argument("--no-worker", action="store_true", help="memory: skip the live worker RSS")
    bench.add_argument("--workers", default="1,2,3", help="scale: worker counts (comma-separated)")
    bench.add_argument(
        "--data", type=Path, default=None, help="catalog: a MovieLens-layout folder's items"
    )
    bench.add_argument(
        "--minutes", type=_positive, default=60.0, help="soak: minutes of traffic (default 60)"
    )
    bench.add_argument(
        "--rate",
        type=_positive,
        default=None,
        help="soak: events/s (default: half the drain rate measured first)",
    )
    bench.add_argument(
        "--sample-s", type=_positive, default=60.0, help="soak: seconds between samples"
    )
    bench.add_argument("--plot", type=Path, default=None, help="soak: also write a PNG here")
    bench.add_argument(
        "--churn",
        type=_count,
        default=20,
        help="soak: items added, edited and deleted every 5 s, each (0: no churn; default 20)",
    )
    bench.add_argument(
        "--no-swap", action="store_true", help="soak: no second model version halfway"
    )
    bench.set_defaults(func=_with_defaults)


def _e2e_model(choice: str, settings: Settings) -> Path | None:
    """``--model`` of ``bench e2e``: an artifact folder, or None for seeded weights."""
    if choice == "seeded":
        return None
    from streams.demo_model import DEMO_TRAIN_SECONDS, TRAINED, resolve_model
    from streams.usage import usage_error

    if choice == TRAINED:
        data = settings.default_dataset
        if not (data / "ratings.csv").is_file():
            usage_error(f"--model trained: no {data / 'ratings.csv'} to train on")
        return resolve_model(TRAINED, settings.data_dir / "models", data, DEMO_TRAIN_SECONDS)
    folder = Path(choice)
    if not (folder / "config.json").is_file():
        usage_error(f"--model {choice}: not a model folder (no config.json)")
    return folder


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above zero: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _with_defaults(args: argparse.Namespace, settings: Settings) -> int:
    if args.users is None:
        args.users = 100_000 if args.bench == "memory" else 10_000
    if args.items is None:
        args.items = 100_000 if args.bench in ("memory", "sequence", "soak") else 10_000
    return cmd_bench(args, settings)
