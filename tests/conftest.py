"""Fixtures shared by every test tier.

The Kafka broker is session-scoped and lazy: only tests that ask for
``kafka_bootstrap`` pay for starting it, so unit tests never do.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.kafka import LocalBroker, free_ports
from streams.settings import Settings


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a live broker: ``HOMEFEED_KAFKA_BOOTSTRAP`` or a fresh local one."""
    external = Settings().kafka_bootstrap
    if external:
        yield external
        return
    port, controller_port = free_ports(2)
    broker = LocalBroker(
        data_dir=tmp_path_factory.mktemp("kafka"), port=port, controller_port=controller_port
    )
    # Generous: two cores may be busy with other test work while the JVM starts.
    broker.start(wait_s=120)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
