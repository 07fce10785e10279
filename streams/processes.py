"""Running the pipeline's own processes: fresh namespaces, workers, bounded waits.

Shared by the demo and the prequential evaluation, which both start workers
as child processes against a broker and must never mix with earlier runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from streams.admin import topic_size
from streams.settings import Settings

log = logging.getLogger(__name__)


def fresh_namespace(base: Settings, label: str) -> Settings:
    """Settings with run-specific topic prefix, consumer group and state folder."""
    run_id = f"{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    return base.model_copy(
        update={
            "topic_prefix": f"{base.topic_prefix}{run_id}.",
            "app_id": f"{base.app_id}-{run_id}",
            "data_dir": base.data_dir / label / run_id,
        }
    )


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment that makes a child `homefeed` process use these settings."""
    env = dict(os.environ)
    env.update(
        HOMEFEED_TOPIC_PREFIX=settings.topic_prefix,
        HOMEFEED_APP_ID=settings.app_id,
        HOMEFEED_DATA_DIR=str(settings.data_dir),
        HOMEFEED_KAFKA_BOOTSTRAP=settings.bootstrap_servers,
        **extra,
    )
    return env


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `homefeed ARGS` in its own session, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *args],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )


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


def wait_for_vectors(bootstrap: str, topic: str, expected: int, timeout_s: float) -> int:
    """Block until the indexer has published ``expected`` vectors (bounded)."""
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = topic_size(bootstrap, topic)
        if count >= expected:
            return count
        time.sleep(1.0)
    log.warning("only %d of %d item vectors after %.0fs", count, expected, timeout_s)
    return count


def interrupt_on_sigterm() -> None:
    """Treat SIGTERM (``kill``, ``docker stop``) like Ctrl-C in this process.

    Python's default SIGTERM handling exits at once, skipping ``finally``
    blocks, which left the demo's broker, worker and service running.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
