"""Running the pipeline's own processes: fresh namespaces, workers, bounded waits.

The one way the demo, the prequential evaluation, the benchmarks and the live
tests lay out a run that never mixes with earlier ones (topic prefix,
consumer group, state folder) and start workers in it as child processes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streams.admin import topic_size
from streams.kafka_connection import KafkaConnection
from streams.settings import Settings

log = logging.getLogger(__name__)

RANKING_WORKER = ("worker", "--role", "ranker", "--loglevel", "warning")


def fresh_namespace(base: Settings, label: str, **overrides: Any) -> Settings:
    """Settings with a run-specific topic prefix, consumer group and state folder.

    ``overrides`` set other fields (partitions, standby replicas, the broker, a
    given state folder) in the same step.
    """
    run_id = f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    values = base.model_dump()
    values.update(
        topic_prefix=f"{base.topic_prefix}{run_id}.",
        app_id=f"{base.app_id}-{run_id}",
        data_dir=base.data_dir / label / run_id,
    )
    values.update(overrides)
    return Settings(**values)


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment that makes a child `homefeed` process use these settings."""
    env = dict(os.environ)
    env.update(
        HOMEFEED_TOPIC_PREFIX=settings.topic_prefix,
        HOMEFEED_APP_ID=settings.app_id,
        HOMEFEED_DATA_DIR=str(settings.data_dir),
        HOMEFEED_KAFKA_BOOTSTRAP=settings.bootstrap_servers,
        HOMEFEED_PARTITIONS=str(settings.partitions),
        HOMEFEED_STANDBY_REPLICAS=str(settings.standby_replicas),
        **settings.kafka_security_env(),
    )
    env.update(extra)
    return env


def spawn(
    args: Sequence[str],
    env: dict[str, str],
    log_path: Path,
    *,
    module: str = "streams.cli",
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `python -m MODULE ARGS` (default: `homefeed ARGS`) in its own session."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )


@contextmanager
def running_workers(
    settings: Settings,
    count: int,
    log_dir: Path,
    args: Sequence[str] = RANKING_WORKER,
    *,
    module: str = "streams.cli",
    cwd: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` workers in one consumer group, each with its own state folder; stopped on exit.

    ``extra_env`` adds settings the namespace does not carry (a models folder, say).
    """
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(count):
            env = child_env(
                settings,
                HOMEFEED_DATA_DIR=str(settings.data_dir / f"w{number}"),
                **(extra_env or {}),
            )
            log_path = log_dir / f"worker-{number}.log"
            processes.append(spawn(args, env, log_path, module=module, cwd=cwd))
        yield processes
    finally:
        stop_all(processes, timeout_s=30.0)


def stop(process: subprocess.Popen[bytes] | None, timeout_s: float = 20.0) -> None:
    """SIGTERM a child's process group; SIGKILL it if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def stop_all(processes: Sequence[subprocess.Popen[bytes]], timeout_s: float = 20.0) -> None:
    """SIGTERM every child at once (they shut down in parallel), then :func:`stop` each."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        stop(process, timeout_s)


def wait_for_vectors(
    kafka: KafkaConnection,
    topic: str,
    expected: int,
    timeout_s: float,
    progress: Callable[[int, float], None] | None = None,
) -> int:
    """Block until the indexer has published ``expected`` vectors (bounded).

    ``progress`` gets (vectors so far, seconds waited) after every look.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = topic_size(kafka, topic)
        if progress is not None:
            progress(count, time.monotonic() - started)
        if count >= expected:
            return count
        time.sleep(1.0)
    log.warning("only %d of %d item vectors after %.0fs", count, expected, timeout_s)
    return count


def interrupt_on_sigterm() -> None:
    """Treat the first SIGTERM (``kill``, ``docker stop``) like Ctrl-C in this process.

    Python's default SIGTERM handling exits at once, skipping ``finally``
    blocks, which left the demo's broker, worker and service running. Later
    SIGTERMs are ignored: ``timeout`` and process managers often signal the
    whole process group a second time, and an interrupt raised inside the
    clean-up would abandon it half way (the broker's JVM kept running).
    """

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, _already_stopping)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _already_stopping(signum: int, frame: object) -> None:
    log.info("SIGTERM ignored: already stopping")
