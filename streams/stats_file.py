"""The ranking worker's counters, written to a JSON file every second for outside readers.

``HOMEFEED_STATS_FILE`` names the file. Benchmarks read it to split the
worker's CPU by stage; an operator's node agent can read it too. The file is
replaced atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust

WRITE_INTERVAL_S = 1.0


def stats_snapshot(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The counters plus the process's CPU seconds and the wall time they were read at.

    Called on the event loop (a Faust timer), so ``event_loop_cpu_s`` is the
    CPU time of the thread that runs every agent.
    """
    return {
        **{key: value for key, value in stats.items() if isinstance(value, int | float)},
        "process_cpu_s": time.process_time(),
        "event_loop_cpu_s": time.thread_time(),
        "written_at": time.time(),
    }


def write_stats(path: Path, stats: Mapping[str, Any]) -> None:
    """Replace ``path`` with a snapshot of ``stats``."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(stats_snapshot(stats)))
    partial.replace(path)


def read_stats(path: Path) -> dict[str, Any]:
    """The last snapshot a worker wrote to ``path`` ({} before its first)."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def register_stats_file(app: faust.App, path: Path, stats: Mapping[str, Any]) -> None:
    """Write ``stats`` to ``path`` every second while the worker runs."""
    path.parent.mkdir(parents=True, exist_ok=True)

    @app.timer(interval=WRITE_INTERVAL_S)
    async def write_worker_stats() -> None:
        write_stats(path, stats)
