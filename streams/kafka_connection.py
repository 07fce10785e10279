"""How every Kafka client of the project connects: brokers, TLS and SASL.

One :class:`KafkaConnection` (from :attr:`Settings.kafka`) is handed to every
place that makes a client — the Faust app, aiokafka and kafka-python
producers, consumers and admins, the homepage service, replay and bench — so
a managed cluster that needs TLS and SASL/SCRAM works everywhere or nowhere.

Secrets stay :class:`~pydantic.SecretStr` until the moment a client is built:
the password is unwrapped only inside :meth:`KafkaConnection.aiokafka` /
:meth:`KafkaConnection.kafka_python` / :meth:`KafkaConnection.faust_credentials`,
and the connection's ``repr`` (what logs and exceptions would show) names the
user and the files, never the password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SECURITY_PROTOCOLS: tuple[SecurityProtocol, ...] = (
    "PLAINTEXT",
    "SSL",
    "SASL_PLAINTEXT",
    "SASL_SSL",
)
SASL_MECHANISMS: tuple[SaslMechanism, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSettingsError(ValueError):
    """The Kafka connection settings cannot work (a missing file, a user without password)."""


@dataclass(frozen=True)
class KafkaConnection:
    """Brokers plus security: everything a client needs to reach the cluster."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: SecretStr | None = None
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise KafkaSettingsError(
                f"HOMEFEED_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(SECURITY_PROTOCOLS)}"
                f", got {self.security_protocol!r}"
            )
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise KafkaSettingsError(
                f"HOMEFEED_KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}"
                f", got {self.sasl_mechanism!r}"
            )
        if self.uses_sasl and (not self.username or self.password is None):
            raise KafkaSettingsError(
                f"{self.security_protocol} needs HOMEFEED_KAFKA_USERNAME and "
                "HOMEFEED_KAFKA_PASSWORD"
            )
        for name, path in (
            ("HOMEFEED_KAFKA_CA_FILE", self.ca_file),
            ("HOMEFEED_KAFKA_CERT_FILE", self.cert_file),
            ("HOMEFEED_KAFKA_KEY_FILE", self.key_file),
        ):
            if path is not None and not path.is_file():
                raise KafkaSettingsError(f"{name}: {path} is not a readable file")
        if self.key_file is not None and self.cert_file is None:
            raise KafkaSettingsError(
                "HOMEFEED_KAFKA_KEY_FILE is set without HOMEFEED_KAFKA_CERT_FILE"
            )

    def __repr__(self) -> str:
        user = f", user={self.username!r}" if self.uses_sasl else ""
        return (
            f"KafkaConnection({self.bootstrap_servers!r}, {self.security_protocol}"
            f"{', ' + self.sasl_mechanism if self.uses_sasl else ''}{user})"
        )

    __str__ = __repr__

    @property
    def uses_tls(self) -> bool:
        """True for SSL and SASL_SSL."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        """True for SASL_PLAINTEXT and SASL_SSL."""
        return self.security_protocol.startswith("SASL_")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context every client shares (None without TLS).

        The CA file, when given, replaces the system's trust store (a private
        cluster's CA); without it the system's CAs are trusted (managed
        clusters with public certificates). A client certificate is sent when
        configured (mutual TLS).
        """
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        context.check_hostname = self.check_hostname
        if self.cert_file is not None:
            context.load_cert_chain(
                str(self.cert_file),
                str(self.key_file) if self.key_file is not None else None,
                self.key_password.get_secret_value() if self.key_password else None,
            )
        return context

    def _sasl_options(self) -> dict[str, Any]:
        if not self.uses_sasl:
            return {}
        assert self.password is not None  # checked in __post_init__
        return {
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password.get_secret_value(),
        }

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin clients."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context(),
            **self._sasl_options(),
        }

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's producer, consumer and admin clients."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            **self._sasl_options(),
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
            options["ssl_check_hostname"] = self.check_hostname
        return options

    def faust_brokers(self) -> list[str]:
        """Faust's broker URLs for the bootstrap list."""
        return [f"kafka://{host.strip()}" for host in self.bootstrap_servers.split(",")]

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials`` (None for plaintext)."""
        import faust

        context = self.ssl_context()
        if self.uses_sasl:
            assert self.password is not None
            return faust.SASLCredentials(
                username=self.username,
                password=self.password.get_secret_value(),
                ssl_context=context,
                mechanism=self.sasl_mechanism,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None
