"""The ``homefeed`` command line: one entry point, one subcommand per job.

Every option defaults to its ``HOMEFEED_*`` setting; ``--help`` names the variable.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from indexer.data_files import DataFileError
from streams.demo_model import DEMO_TRAIN_SECONDS
from streams.settings import DEFAULT_DATASET, Settings, load_settings, settings_problem

log = logging.getLogger("homefeed")

# Modules that contribute subcommands: each defines ``add_parsers(subparsers)``
# and keeps its heavy imports inside the command functions, so --help stays fast.
COMMAND_MODULES: tuple[str, ...] = (
    "streams.homepage.cli",
    "streams.model_cli",
    "streams.experiment_report",
    "bench.cli",
)

DATA_HELP = f"(default: $HOMEFEED_DATASETS_DIR/{DEFAULT_DATASET})"


def _broker(settings: Settings) -> object:
    from deploy.kafka import LocalBroker

    return LocalBroker(data_dir=settings.data_dir / "kafka", port=settings.local_kafka_port)


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    """Start, stop or report the local Kafka broker."""
    if settings.uses_external_kafka:
        log.info("HOMEFEED_KAFKA_BOOTSTRAP=%s is set: using that broker", settings.kafka_bootstrap)
        if args.action == "status":
            print(json.dumps({"external": True, "bootstrap": settings.bootstrap_servers}))
        return 0
    broker = _broker(settings)
    if args.action == "start":
        broker.start(wait_s=args.wait)  # type: ignore[attr-defined]
        print(f"Kafka is up at {broker.bootstrap}")  # type: ignore[attr-defined]
    elif args.action == "stop":
        broker.stop()  # type: ignore[attr-defined]
        print("Kafka stopped")
    else:
        print(json.dumps(broker.status(), default=str))  # type: ignore[attr-defined]
    return 0


def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    """Create the project's topics (idempotent)."""
    from streams.admin import create_topics

    created = create_topics(settings)
    print(f"created {len(created)} topic(s): {', '.join(created) or 'all existed'}")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the Faust agents of a role until stopped."""
    from faust.worker import Worker as FaustWorker

    from streams.admin import create_topics
    from streams.app import build_worker

    create_topics(settings)
    worker = build_worker(settings, args.role)
    FaustWorker(worker.app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Publish a data set's items, then its events."""
    from indexer.datasets import load_dataset
    from streams.admin import create_topics
    from streams.replay import replay
    from streams.topics import TopicNames

    dataset = load_dataset(args.data, with_events=not args.items_only)
    create_topics(settings)
    report = asyncio.run(
        replay(
            settings.kafka,
            TopicNames.from_settings(settings),
            dataset,
            rate=args.rate,
            limit=args.limit,
            progress=sys.stderr.isatty(),
            with_items=not args.events_only,
        )
    )
    print(
        f"replayed {report.items} items and {report.events} events "
        f"in {report.seconds:.1f}s ({report.events_per_s:.0f} events/s)"
    )
    return 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    """Show live homepages of a few users."""
    from indexer.datasets import load_dataset
    from streams.topics import TopicNames
    from streams.watch import watch

    titles = {item.item_id: item.title for item in load_dataset(args.data, with_events=False).items}
    users = args.users.split(",") if args.users else None
    asyncio.run(
        watch(
            settings.kafka,
            TopicNames.from_settings(settings).rankings,
            titles,
            users=users,
            show=args.show,
            duration_s=args.duration,
        )
    )
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    """Erase a user: their state, history and served homepage, everywhere."""
    from kafka import KafkaProducer

    from streams.topics import TopicNames
    from streams.wire import Event, new_event_id, now_ms

    event = Event(new_event_id(), args.user_id, "forget", now_ms())
    producer = KafkaProducer(**settings.kafka.kafka_python(), acks="all")
    try:
        topic = TopicNames.from_settings(settings).events
        producer.send(topic, key=args.user_id.encode(), value=event.encode()).get(timeout=30)
    finally:
        producer.close(timeout=30)
    print(f"forget request {event.event_id} for user {args.user_id} sent to {topic}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Broker, topics, worker, replay and the live board, all in one."""
    from streams.demo import DemoOptions, run_demo
    from streams.demo_model import DOT_PRODUCT, TRAINED
    from streams.eval_cli import check_model_dir
    from streams.usage import usage_error

    if args.model not in (TRAINED, DOT_PRODUCT):
        check_model_dir(Path(args.model))
    if args.rate <= 0 or args.train_seconds <= 0:
        usage_error("--rate and --train-seconds must be positive")
    options = DemoOptions(
        data=args.data,
        rate=args.rate,
        limit=args.limit,
        show=args.show,
        model=args.model,
        train_seconds=args.train_seconds,
        summary_path=args.summary_json,
    )
    return run_demo(settings, options)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(
        prog="homefeed",
        description="Streaming personalized homepages on Kafka + Faust + BERT + FAISS. "
        "Settings come from HOMEFEED_* environment variables, e.g. "
        "HOMEFEED_KAFKA_BOOTSTRAP (external broker), HOMEFEED_TOPIC_PREFIX, "
        "HOMEFEED_PARTITIONS, HOMEFEED_DATA_DIR, HOMEFEED_STORE.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="local Apache Kafka (KRaft) on 127.0.0.1")
    broker.add_argument("action", choices=["start", "stop", "status"])
    broker.add_argument("--wait", type=float, default=90.0, help="seconds to wait for readiness")
    broker.set_defaults(func=cmd_broker)

    topics = sub.add_parser("topics", help="topic administration")
    topics.add_argument("action", choices=["create"])
    topics.set_defaults(func=cmd_topics)

    worker = sub.add_parser("worker", help="run the Faust agents")
    worker.add_argument("--role", choices=["all", "indexer", "ranker"], default="all")
    worker.add_argument("--loglevel", default="info", help="Faust worker log level")
    worker.set_defaults(func=cmd_worker)

    replay = sub.add_parser("replay", help="publish a data set's items, then its events")
    replay.add_argument(
        "--data", type=Path, default=None, help=f"MovieLens or MSN folder {DATA_HELP}"
    )
    replay.add_argument("--rate", type=float, default=None, help="events per second (default: max)")
    replay.add_argument("--limit", type=int, default=None, help="publish at most N events")
    replay.add_argument("--items-only", action="store_true", help="publish the catalog only")
    replay.add_argument("--events-only", action="store_true", help="skip the catalog")
    replay.set_defaults(func=cmd_replay)

    watch = sub.add_parser("watch", help="live view of a few users' homepages")
    watch.add_argument("--data", type=Path, default=None, help=f"catalog for titles {DATA_HELP}")
    watch.add_argument(
        "--users", default=None, help="comma-separated user ids (default: first seen)"
    )
    watch.add_argument("--show", type=int, default=4, help="how many users to show")
    watch.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    watch.set_defaults(func=cmd_watch)

    forget = sub.add_parser("forget", help="erase a user's state, history and homepage")
    forget.add_argument("user_id")
    forget.set_defaults(func=cmd_forget)

    demo = sub.add_parser("demo", help="everything end to end on the local broker")
    demo.add_argument("--data", type=Path, default=None, help=f"MovieLens folder {DATA_HELP}")
    demo.add_argument("--rate", type=float, default=200.0, help="replay events per second")
    demo.add_argument("--limit", type=int, default=None, help="replay at most N events")
    demo.add_argument("--show", type=int, default=4, help="how many users to show")
    demo.add_argument(
        "--model",
        default="trained",
        help="trained: the default sequence model, trained on --data once and cached "
        "(default); dot-product: the plain BERT dot product; or a model folder",
    )
    demo.add_argument(
        "--train-seconds",
        type=float,
        default=DEMO_TRAIN_SECONDS,
        help="training budget of the demo model in seconds (`homefeed train` allows 480; "
        "on the shared sets validation peaks well within 240)",
    )
    demo.add_argument(
        "--summary-json", type=Path, default=None, help="also write the closing summary here"
    )
    demo.set_defaults(func=cmd_demo)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``homefeed`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Client libraries log every connection at INFO; keep the console for our own news.
    for noisy in ("kafka", "aiokafka", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.log_level.upper() != "DEBUG":
        # kafka-python logs every failed connection attempt as an error; a broker
        # that never answers is reported once, below, in words.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        settings = load_settings()
    except ValidationError as error:
        if args.log_level.upper() == "DEBUG":
            raise
        print(f"homefeed: {settings_problem(error)}", file=sys.stderr)
        return 2
    if getattr(args, "data", False) is None:
        args.data = settings.default_dataset
    unreachable = _broker_unreachable_errors()
    from streams.kafka_check import KafkaAccessError, check_kafka_access
    from streams.kafka_connection import KafkaSettingsError

    try:
        if _uses_kafka(args):
            # A wrong password or an untrusted certificate is reported here in
            # seconds, with its cause, instead of as a client's endless retry.
            check_kafka_access(settings.kafka)
        return int(args.func(args, settings))
    except (KafkaSettingsError, KafkaAccessError) as error:
        if args.log_level.upper() == "DEBUG":
            raise
        print(f"homefeed: Kafka: {error}", file=sys.stderr)
        return 2
    except DataFileError as error:
        if args.log_level.upper() == "DEBUG":
            raise
        # A bad file is the user's to fix: say which and where, not a traceback.
        print(f"homefeed: {error}", file=sys.stderr)
        return 2
    except unreachable as error:
        if args.log_level.upper() == "DEBUG":
            raise
        print(
            f"homefeed: cannot reach Kafka at {settings.bootstrap_servers} ({error}); start the "
            "local broker with `homefeed broker start`, or set HOMEFEED_KAFKA_BOOTSTRAP",
            file=sys.stderr,
        )
        return 2


# Commands that talk to the broker (``train`` and ``eval`` only with the flags below).
KAFKA_COMMANDS = frozenset(
    {"topics", "worker", "replay", "watch", "forget", "demo", "serve", "bench"}
)


def _uses_kafka(args: argparse.Namespace) -> bool:
    if args.command in KAFKA_COMMANDS:
        return True
    return bool(getattr(args, "replay", False) or getattr(args, "from_served", False))


def _broker_unreachable_errors() -> tuple[type[Exception], ...]:
    """What the Kafka clients raise when no broker answers within their bounded wait."""
    from aiokafka.errors import KafkaConnectionError as AsyncConnectionError
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    return (AsyncConnectionError, KafkaConnectionError, KafkaTimeoutError)


if __name__ == "__main__":
    sys.exit(main())
