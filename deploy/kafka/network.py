"""Ports and readiness of a Kafka broker: free ports, TCP probes, metadata requests."""

from __future__ import annotations

import socket
import time
from typing import Any

HOST = "127.0.0.1"


def is_port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on the loopback interface right now."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        # All bound at once so the kernel cannot hand out the same port twice.
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def fetch_metadata(
    bootstrap: str, timeout_s: float = 5.0, client_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Ask the cluster at ``bootstrap`` to describe itself; raises if it cannot.

    ``client_options``: more kafka-python client arguments (TLS, SASL).
    """
    # Imported here so that importing this module stays cheap for the CLI.
    from kafka import KafkaAdminClient

    timeout_ms = max(1000, int(timeout_s * 1000))
    admin = KafkaAdminClient(
        **{"bootstrap_servers": bootstrap, **(client_options or {})},
        client_id="homefeed-broker-probe",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
    )
    try:
        description: dict[str, Any] = admin.describe_cluster()
        return description
    finally:
        admin.close()


def wait_until_ready(
    bootstrap: str, timeout_s: float, client_options: dict[str, Any] | None = None
) -> None:
    """Block until a Kafka client can fetch cluster metadata from ``bootstrap``.

    Raises:
        TimeoutError: the cluster did not answer within ``timeout_s``.

    """
    deadline = time.monotonic() + timeout_s
    first_host, _, first_port = bootstrap.split(",")[0].strip().rpartition(":")
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"Kafka at {bootstrap} not ready after {timeout_s:.0f}s: {last_error!r}"
            )
        # A plain TCP probe first: cheap, and spares the log a client error per retry.
        if is_port_open(first_host or HOST, int(first_port), timeout_s=min(0.5, remaining)):
            try:
                fetch_metadata(bootstrap, min(5.0, max(1.0, remaining)), client_options)
                return
            except Exception as exc:  # any client failure just means "not yet"
                last_error = exc
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
