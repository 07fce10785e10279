"""Fail fast on a secured cluster that refuses us, and say why.

The client libraries report a wrong password or an untrusted certificate as
"Unable to bootstrap" — aiokafka at once, kafka-python after retrying for 30 s,
Faust by retrying for as long as it runs — and none of them names the cause.
:func:`check_kafka_access` opens one connection to each bootstrap server the
way every client will (same TLS context, same SASL mechanism and user) and
turns the definitive refusals into :class:`KafkaAccessError` with the cause
in words. A broker that does not answer at all is not an error here: each
client has its own bounded wait for that (a cluster may still be starting).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from streams.kafka_connection import KafkaConnection

CHECK_TIMEOUT_S = 10.0


class KafkaAccessError(Exception):
    """The cluster answered and refused this client (TLS or SASL)."""


def _host_port(server: str) -> tuple[str, int]:
    host, _, port = server.strip().rpartition(":")
    return host or server.strip(), int(port or 9092)


async def _probe(kafka: KafkaConnection, host: str, port: int, timeout_s: float) -> None:
    from aiokafka.conn import create_conn
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

    options: dict[str, Any] = kafka.aiokafka()
    options.pop("bootstrap_servers")
    where = f"{host}:{port}"
    try:
        connection = await asyncio.wait_for(
            create_conn(host, port, **options, request_timeout_ms=int(timeout_s * 1000)),
            timeout_s,
        )
    except ssl.SSLCertVerificationError as error:
        hint = (
            "set HOMEFEED_KAFKA_CA_FILE to the CA that signed it"
            if "mismatch" not in str(error.verify_message)
            else "connect by a name the certificate holds "
            "(or set HOMEFEED_KAFKA_CHECK_HOSTNAME=false)"
        )
        raise KafkaAccessError(
            f"the TLS certificate of {where} is not trusted ({error.verify_message}); {hint}"
        ) from error
    except ssl.SSLError as error:
        raise KafkaAccessError(
            f"TLS handshake with {where} failed ({error.reason or error}); is that a "
            f"{kafka.security_protocol} listener?"
        ) from error
    except SaslAuthenticationFailed as error:
        raise KafkaAccessError(
            f"{where} rejected SASL {kafka.sasl_mechanism} login of user {kafka.username!r}: "
            "wrong user name or password (HOMEFEED_KAFKA_USERNAME / HOMEFEED_KAFKA_PASSWORD)"
        ) from error
    except UnsupportedSaslMechanismError as error:
        raise KafkaAccessError(
            f"{where} does not offer SASL mechanism {kafka.sasl_mechanism} ({error}); "
            "set HOMEFEED_KAFKA_SASL_MECHANISM to one it offers"
        ) from error
    except (TimeoutError, OSError):
        return  # not answering: the clients' own bounded waits report that
    except Exception:  # noqa: BLE001 - anything else is for the real client to report
        return
    connection.close()


def check_kafka_access(kafka: KafkaConnection, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Raise :class:`KafkaAccessError` if a bootstrap server refuses our TLS or SASL.

    Plaintext connections have nothing to refuse and are not probed.
    """
    if kafka.security_protocol == "PLAINTEXT":
        return

    async def probe_all() -> None:
        for server in kafka.bootstrap_servers.split(","):
            host, port = _host_port(server)
            await _probe(kafka, host, port, timeout_s)

    asyncio.run(probe_all())
