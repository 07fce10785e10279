"""A SASL_SSL listener for the local broker, the way managed clusters are reached.

:func:`make_test_pki` makes a throwaway certificate authority and a broker
certificate for ``127.0.0.1`` with ``openssl`` (a PKCS#12 keystore for the
JVM, the CA as PEM for Python clients); :class:`SecureListener` is what
:class:`~deploy.kafka.LocalBroker` adds to its configuration: a ``SECURE``
listener speaking SASL over TLS with SCRAM-SHA-256/512 users, created at
storage-format time with Kafka's own ``--add-scram`` (KRaft keeps SCRAM
credentials in its metadata log).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from deploy.kafka.jars import BrokerError

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
OPENSSL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TestPki:
    """A certificate authority and the broker's keystore signed by it."""

    ca_file: Path  # PEM: what clients trust
    keystore: Path  # PKCS#12: the broker's key and certificate chain
    keystore_password: str


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener on ``port`` with SCRAM ``users`` (name → password)."""

    port: int
    pki: TestPki
    users: dict[str, str] = field(default_factory=dict)

    def properties(self, host: str) -> dict[str, str]:
        """The template fields that add the listener to server.properties."""
        mechanisms = ",".join(SCRAM_MECHANISMS)
        login = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        lines = [
            f"listener.name.secure.sasl.enabled.mechanisms={mechanisms}",
            *(
                f"listener.name.secure.{name.lower()}.sasl.jaas.config={login}"
                for name in SCRAM_MECHANISMS
            ),
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={self.pki.keystore}",
            f"ssl.keystore.password={self.pki.keystore_password}",
            f"ssl.key.password={self.pki.keystore_password}",
            "ssl.client.auth=none",
        ]
        return {
            "secure_listener": f",SECURE://{host}:{self.port}",
            "secure_map": ",SECURE:SASL_SSL",
            "secure_config": "\n".join(["# SASL_SSL listener (deploy/kafka/secure.py)", *lines]),
        }

    def scram_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create the users for every mechanism."""
        arguments = []
        for name, password in self.users.items():
            for mechanism in SCRAM_MECHANISMS:
                arguments += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return arguments


NO_SECURE_LISTENER = {"secure_listener": "", "secure_map": "", "secure_config": ""}


def _openssl(*arguments: str, cwd: Path) -> None:
    try:
        result = subprocess.run(
            ["openssl", *arguments],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=OPENSSL_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as error:
        raise BrokerError("openssl is needed to make test certificates") from error
    if result.returncode != 0:
        raise BrokerError(f"openssl {arguments[0]} failed: {result.stderr.strip()}")


def make_certificate_authority(folder: Path, name: str = "homefeed-test-ca") -> Path:
    """A self-signed CA in ``folder`` (``ca.pem``, ``ca.key``); returns the PEM path."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", f"/CN={name}",
        cwd=folder,
    )  # fmt: skip
    return folder / "ca.pem"


def make_test_pki(folder: Path, host: str = "127.0.0.1") -> TestPki:
    """A CA and a broker certificate for ``host`` (an IP SAN), valid for two days."""
    ca_file = make_certificate_authority(folder)
    (folder / "san.ext").write_text(f"subjectAltName=IP:{host}\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key",
        "-out", "broker.csr", "-subj", f"/CN={host}",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "broker.pem", "-extfile", "san.ext",
        cwd=folder,
    )  # fmt: skip
    password = secrets.token_hex(12)
    _openssl(
        "pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key",
        "-certfile", "ca.pem", "-out", "broker.p12", "-passout", f"pass:{password}",
        cwd=folder,
    )  # fmt: skip
    return TestPki(ca_file, folder / "broker.p12", password)
