"""The local development broker: Apache Kafka in KRaft mode, fetched from Maven Central."""

from deploy.kafka.broker import LocalBroker
from deploy.kafka.jars import BrokerError
from deploy.kafka.network import free_ports

__all__ = ["BrokerError", "LocalBroker", "free_ports"]
