"""Cores used by each process of a benchmark (worker, broker, load generator), by window.

A background thread samples each process's CPU seconds (user + system, from
the kernel) every ``interval_s``, and the counters a worker writes to its
stats file (streams/stats_file.py: events applied, CPU seconds by stage);
:meth:`CpuSampler.cores` and :meth:`CpuSampler.delta` turn the samples around
a wall-clock window into cores used and counter increments. The window comes
afterwards from the records themselves (a drain's 10%–90% stretch, a
freshness run's sending period), so sampling runs the whole time.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from streams.stats_file import read_stats

SAMPLE_INTERVAL_S = 0.5


@dataclass
class CpuTrack:
    """(wall time, value) samples of one process's CPU seconds or one counter."""

    times: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    def growth(self, start: float, end: float) -> float | None:
        """How much the value grew over ``[start, end]``; None outside the samples."""
        first, last = self.at(start), self.at(end)
        return None if first is None or last is None else last - first

    def at(self, when: float) -> float | None:
        """CPU seconds at ``when`` (linear between samples); None outside the samples."""
        if not self.times or when < self.times[0] or when > self.times[-1]:
            return None
        right = bisect.bisect_left(self.times, when)
        if self.times[right] == when or right == 0:
            return self.cpu_s[right]
        t0, t1 = self.times[right - 1], self.times[right]
        c0, c1 = self.cpu_s[right - 1], self.cpu_s[right]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0)


class CpuSampler:
    """Samples named processes' CPU time (and stats files) in a thread while in its ``with``."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._processes: dict[str, psutil.Process] = {}
        self._stats_files: dict[str, Path] = {}
        self._tracks: dict[str, CpuTrack] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        """Start sampling process ``pid`` under ``name`` (replacing an earlier one)."""
        with self._lock:
            self._processes[name] = psutil.Process(pid)
            self._tracks[name] = CpuTrack()

    def watch_stats(self, name: str, path: Path) -> None:
        """Also sample the counters of the stats file at ``path`` (tracks ``name.<counter>``)."""
        with self._lock:
            self._stats_files[name] = path
            for key in [key for key in self._tracks if key.startswith(f"{name}.")]:
                del self._tracks[key]

    def forget(self, name: str) -> None:
        """Stop sampling ``name`` (its samples so far are kept)."""
        with self._lock:
            self._processes.pop(name, None)
            self._stats_files.pop(name, None)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5 * self._interval_s)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.sample()
            self._stopped.wait(self._interval_s)

    def sample(self) -> None:
        """Take one sample of every watched process now (gone processes are dropped)."""
        with self._lock:
            for name, process in list(self._processes.items()):
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    del self._processes[name]
                    continue
                track = self._tracks[name]
                track.times.append(time.time())
                track.cpu_s.append(times.user + times.system)
            for name, path in self._stats_files.items():
                # Stamped with the time the worker wrote them, not the time read.
                stats = read_stats(path)
                written_at = stats.pop("written_at", None)
                if not isinstance(written_at, float):
                    continue
                for key, value in stats.items():
                    track = self._tracks.setdefault(f"{name}.{key}", CpuTrack())
                    if not track.times or written_at > track.times[-1]:
                        track.times.append(written_at)
                        track.cpu_s.append(float(value))

    def cores(self, start: float, end: float) -> dict[str, float]:
        """Cores each process used between wall times ``start`` and ``end`` (epoch seconds);
        processes whose samples do not cover the window are left out."""
        with self._lock:
            grown = {
                name: track.growth(start, end)
                for name, track in self._tracks.items()
                if "." not in name  # processes, not stats counters
            }
        return {
            name: round(cpu_s / (end - start), 3)
            for name, cpu_s in grown.items()
            if cpu_s is not None and end > start
        }

    def wait_until_covered(self, when: float, timeout_s: float = 5.0) -> bool:
        """Wait (at most ``timeout_s``) until every watched track has a sample at or after
        ``when``.

        A worker writes its stats file every second and the sampler reads it
        every ``interval_s``, so a window that just ended is covered a little later.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                watched = [
                    track
                    for name, track in self._tracks.items()
                    if name.split(".")[0] in self._processes
                    or name.split(".")[0] in self._stats_files
                ]
                covered = all(track.times and track.times[-1] >= when for track in watched)
            if covered or time.monotonic() >= deadline:
                return covered
            time.sleep(self._interval_s / 2)

    def delta(self, name: str, start: float, end: float) -> float | None:
        """How much track ``name`` (a process's CPU seconds, or a stats counter) grew over
        ``[start, end]``; None when its samples do not cover the window."""
        with self._lock:
            track = self._tracks.get(name)
            return None if track is None else track.growth(start, end)


def stage_split(
    sampler: CpuSampler, worker: str, stats: str, start: float, end: float
) -> dict[str, float]:
    """CPU µs per applied event, by stage of the worker (streams.agents.STAGES), over a window.

    ``total`` is the whole worker process's CPU (every thread) per event;
    ``event_loop_other`` the event loop's time outside the stages (Faust's
    consumer and producer, the changelog, timers, garbage collection), and
    ``other_threads`` the CPU of threads that are neither the loop nor the
    ranking thread (FAISS's and torch's worker threads, aiokafka's, the
    model watcher). Empty when the window saw no events or the samples do not
    cover it.
    """
    from streams.agents import STAGES

    applied = sampler.delta(f"{stats}.applied", start, end)
    if not applied:
        return {}
    split = {
        stage: round(
            1e6 * (sampler.delta(f"{stats}.cpu_{stage}_s", start, end) or 0.0) / applied, 1
        )
        for stage in STAGES
    }
    total = sampler.delta(worker, start, end)
    loop = sampler.delta(f"{stats}.event_loop_cpu_s", start, end)
    if total is not None and loop is not None:
        loop_us = 1e6 * loop / applied
        split["event_loop_other"] = round(
            loop_us - split["ingest"] - split["state"] - split["produce"], 1
        )
        split["other_threads"] = round(1e6 * total / applied - loop_us - split["ranking"], 1)
        split["total"] = round(1e6 * total / applied, 1)
    split["events"] = round(applied)
    return split
