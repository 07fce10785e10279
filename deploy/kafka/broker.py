"""A local single-node Apache Kafka broker (KRaft combined mode) for development and tests.

The broker jars come from Maven Central through ``fetch.sh`` (:mod:`deploy.kafka.jars`);
the broker runs as a detached JVM whose configuration, storage, pid file and logs
all live in one data folder, so a later :meth:`LocalBroker.start` on the same
folder resumes with the data it had. No worker or service imports this: it is
how a developer machine gets a broker, not part of the runtime.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from string import Template
from typing import Any

from deploy.kafka.jars import KAFKA_DEPLOY_DIR, BrokerError, default_cache_dir, ensure_jars
from deploy.kafka.network import HOST, fetch_metadata, is_port_open, wait_until_ready
from deploy.kafka.secure import NO_SECURE_LISTENER, SecureListener

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("var") / "kafka"
NODE_ID = 1

# The broker shares a 2-core box with the encoder: a small heap is plenty
# because Kafka keeps its data in the OS page cache, not on the heap.
DEFAULT_HEAP = "512m"
JVM_FLAGS = (
    # A small initial heap starts faster and leaves memory to the encoder until needed.
    "-Xms128m",
    # The rest is what Kafka's own kafka-run-class.sh uses (short GC pauses keep
    # produce latency flat), plus dying on OOM instead of limping on.
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
FORMAT_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 40


def new_cluster_id() -> str:
    """Make a random cluster id in Kafka's format (URL-safe base64 of a UUID, unpadded)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka avoids a leading "-" too: it would read as a command-line flag.
        if not cluster_id.startswith("-"):
            return cluster_id


def _tail(path: Path, start: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of ``path`` written after byte offset ``start``."""
    try:
        with path.open("rb") as log_file:
            log_file.seek(start)
            text = log_file.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _process_state(pid: int) -> str | None:
    """Return the /proc state letter of ``pid`` (``Z``: zombie), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


class LocalBroker:
    """One local KRaft broker+controller, owned through its data folder.

    Layout of ``data_dir``: ``server.properties``, ``log4j.properties``,
    ``cluster.id``, ``broker.pid``, ``data/`` (Kafka's log.dirs) and ``logs/``
    (``server.log`` and the JVM's own ``stdout.log``).
    """

    def __init__(
        self,
        data_dir: Path = DEFAULT_DATA_DIR,
        port: int = 9092,
        controller_port: int | None = None,
        cache_dir: Path | None = None,
        heap: str = DEFAULT_HEAP,
        java: str = "java",
        secure: SecureListener | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.controller_port = controller_port if controller_port is not None else port + 1
        self.cache_dir = cache_dir or default_cache_dir()
        self.heap = heap
        self.java = java
        # An extra SASL_SSL listener (tests of secured clusters); the plaintext
        # one stays for the readiness probe and inter-broker traffic.
        self.secure = secure
        # Kept so that the starter can reap its own child instead of leaving a zombie.
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offsets: dict[str, int] = {}

    # --- paths ---------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string for clients of this broker."""
        return f"{HOST}:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        """Bootstrap servers of the SASL_SSL listener (only with ``secure``)."""
        if self.secure is None:
            raise BrokerError("this broker has no SASL_SSL listener")
        return f"{HOST}:{self.secure.port}"

    @property
    def server_properties(self) -> Path:
        """The broker configuration written by :meth:`start`."""
        return self.data_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        """Folder of the broker's own logs (not Kafka's topic data)."""
        return self.data_dir / "logs"

    @property
    def storage_dir(self) -> Path:
        """Kafka's ``log.dirs``: topic partitions and the metadata log."""
        return self.data_dir / "data"

    @property
    def pid_file(self) -> Path:
        """Pid of the running broker JVM (also its process-group id)."""
        return self.data_dir / "broker.pid"

    # --- public API ----------------------------------------------------

    def ensure_jars(self) -> Path:
        """Return the jar folder, fetching the broker from Maven Central if needed."""
        return ensure_jars(self.cache_dir)

    def pid(self) -> int | None:
        """Pid of this folder's broker if it is alive, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_our_broker(pid) else None

    def status(self) -> dict[str, Any]:
        """Describe the broker cheaply (no Kafka request): running, pid, bootstrap, folders."""
        pid = self.pid()
        return {
            "running": pid is not None,
            "pid": pid,
            "bootstrap": self.bootstrap,
            "port_open": is_port_open(HOST, self.port),
            "data_dir": str(self.data_dir),
            "log_file": str(self.log_dir / "server.log"),
        }

    def start(self, wait_s: float = 60.0) -> None:
        """Start the broker (if not already up) and return once clients can use it.

        Raises:
            BrokerError: the ports are taken by something else, or the broker did
                not become ready within ``wait_s`` (the message holds its log tail).

        """
        running_pid = self.pid()
        if running_pid is not None:
            logger.info("broker already running (pid %s); waiting for it", running_pid)
            self._wait_ready_or_fail(wait_s)
            return
        if is_port_open(HOST, self.port):
            try:
                fetch_metadata(self.bootstrap, timeout_s=min(5.0, wait_s))
            except Exception as exc:  # whatever it is, it does not speak Kafka
                raise BrokerError(
                    f"port {self.port} is taken by something that is not Kafka"
                ) from exc
            logger.info(
                "a Kafka broker already answers on %s; not starting another", self.bootstrap
            )
            return
        if is_port_open(HOST, self.controller_port):
            raise BrokerError(f"controller port {self.controller_port} is already in use")

        libs = self.ensure_jars()
        self._write_config()
        self._format_storage(libs)
        self._launch(libs)
        self._wait_ready_or_fail(wait_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Shut the broker down cleanly (SIGTERM), or SIGKILL it after ``timeout_s``."""
        pid = self.pid()
        if pid is None:
            logger.info("no broker running from %s", self.data_dir)
            self.pid_file.unlink(missing_ok=True)
            return
        logger.info("stopping broker pid %s", pid)
        self._signal_group(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout_s):
            logger.warning("broker pid %s ignored SIGTERM for %.0fs; killing it", pid, timeout_s)
            self._signal_group(pid, signal.SIGKILL)
            if not self._wait_exit(pid, 10.0):
                raise BrokerError(f"broker pid {pid} survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker at once, as a crash would (storage stays for a restart)."""
        pid = self.pid()
        if pid is None:
            return
        logger.info("killing broker pid %s", pid)
        self._signal_group(pid, signal.SIGKILL)
        if not self._wait_exit(pid, 10.0):
            raise BrokerError(f"broker pid {pid} survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)

    def restart(self, wait_s: float = 60.0) -> None:
        """Stop, then start on the same data folder (topics and messages survive)."""
        self.stop()
        self.start(wait_s=wait_s)

    # --- internals -----------------------------------------------------

    def _write_config(self) -> None:
        """Render the templates in deploy/kafka/ into the data folder (ports may change)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        fields = {
            "host": HOST,
            "node_id": NODE_ID,
            "port": self.port,
            "controller_port": self.controller_port,
            "storage_dir": self.storage_dir,
            "log_dir": self.log_dir,
            **(self.secure.properties(HOST) if self.secure else NO_SECURE_LISTENER),
        }
        for name in ("server.properties", "log4j.properties"):
            template = Template((KAFKA_DEPLOY_DIR / f"{name}.in").read_text())
            (self.data_dir / name).write_text(template.substitute(fields))

    def _cluster_id(self) -> str:
        """Return this folder's cluster id: generated on first use, then reused."""
        id_file = self.data_dir / "cluster.id"
        if id_file.is_file():
            return id_file.read_text().strip()
        meta = self.storage_dir / "meta.properties"
        cluster_id = None
        if meta.is_file():
            # Storage formatted but the id file lost: the storage is the truth.
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    cluster_id = line.split("=", 1)[1].strip()
        cluster_id = cluster_id or new_cluster_id()
        id_file.write_text(cluster_id + "\n")
        return cluster_id

    def _java_command(self, libs: Path, main_class: str, *args: str) -> list[str]:
        return [
            self.java,
            f"-Xmx{self.heap}",
            *JVM_FLAGS,
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            f"{libs}/*",
            main_class,
            *args,
        ]

    def _format_storage(self, libs: Path) -> None:
        if (self.storage_dir / "meta.properties").is_file():
            return
        cluster_id = self._cluster_id()
        logger.info("formatting Kafka storage in %s (cluster id %s)", self.storage_dir, cluster_id)
        command = self._java_command(
            libs,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(self.server_properties),
            *(self.secure.scram_arguments() if self.secure else []),
        )
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(
                f"formatting Kafka storage took over {FORMAT_TIMEOUT_S:.0f}s"
            ) from exc
        if result.returncode != 0:
            raise BrokerError(
                f"kafka.tools.StorageTool format failed:\n{result.stdout}\n{result.stderr}"
            )

    def _launch(self, libs: Path) -> None:
        command = self._java_command(libs, "kafka.Kafka", str(self.server_properties))
        stdout_log = self.log_dir / "stdout.log"
        # Error messages quote only what this start logged (the files are appended to).
        self._log_offsets = {
            name: (self.log_dir / name).stat().st_size if (self.log_dir / name).exists() else 0
            for name in ("stdout.log", "server.log")
        }
        logger.info("starting Kafka broker on %s (data in %s)", self.bootstrap, self.data_dir)
        with stdout_log.open("ab") as out:
            # Own session = own process group: it outlives the CLI that started it,
            # ignores the terminal's Ctrl-C, and stop() can signal it as a group.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._process.pid}\n")

    def _wait_ready_or_fail(self, wait_s: float) -> None:
        started = time.monotonic()
        deadline = started + wait_s
        while True:
            pid = self.pid()
            if pid is None:
                exit_code = self._process.poll() if self._process is not None else None
                raise BrokerError(
                    f"Kafka broker exited during startup (exit code {exit_code}).\n"
                    f"{self._log_tails()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tails = self._log_tails()
                self.kill()
                raise BrokerError(
                    f"Kafka broker not ready after {wait_s:.0f}s; killed it.\n{tails}"
                )
            try:
                # Short slices so that a crashed JVM is noticed quickly.
                wait_until_ready(self.bootstrap, timeout_s=min(2.0, remaining))
            except TimeoutError:
                continue
            logger.info(
                "Kafka broker ready on %s after %.1fs", self.bootstrap, time.monotonic() - started
            )
            return

    def _log_tails(self) -> str:
        """Tails of the broker's logs, limited to what this start wrote."""
        parts = []
        for name in ("stdout.log", "server.log"):
            path = self.log_dir / name
            parts.append(f"--- {path} ---\n{_tail(path, self._log_offsets.get(name, 0))}")
        return "\n".join(parts)

    def _is_our_broker(self, pid: int) -> bool:
        """Tell whether ``pid`` is a live Kafka JVM started on this folder's config."""
        process = self._process
        if process is not None and process.pid == pid:
            # Our own unreaped child: its pid cannot be recycled, and poll() only
            # reports the exit once every JVM thread (and socket) is gone.
            return process.poll() is None
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not our child: init reaps it
        if _process_state(pid) in (None, "Z"):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # Guards against a recycled pid behind a stale pid file.
        return b"kafka.Kafka" in cmdline and str(self.server_properties).encode() in cmdline

    @staticmethod
    def _signal_group(pid: int, signum: signal.Signals) -> None:
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        """Wait until the JVM is gone and its ports are free, so a restart can bind them."""
        deadline = time.monotonic() + timeout_s
        while self._is_our_broker(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        ports_deadline = max(deadline, time.monotonic() + 5.0)
        while is_port_open(HOST, self.port, 0.2) or is_port_open(HOST, self.controller_port, 0.2):
            if time.monotonic() >= ports_deadline:
                logger.warning("broker pid %s exited but its ports are still open", pid)
                break
            time.sleep(0.05)
        return True
