"""Kafka connection settings: what each client library is given, and what stays secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.kafka_connection import KafkaConnection, KafkaSettingsError
from streams.settings import Settings


def test_plaintext_clients_get_only_the_brokers() -> None:
    kafka = KafkaConnection("a:9092,b:9092")
    assert kafka.aiokafka() == {
        "bootstrap_servers": "a:9092,b:9092",
        "security_protocol": "PLAINTEXT",
        "ssl_context": None,
    }
    assert "ssl_context" not in kafka.kafka_python()
    assert kafka.faust_brokers() == ["kafka://a:9092", "kafka://b:9092"]
    assert kafka.faust_credentials() is None


def test_sasl_ssl_gives_every_library_the_same_user_and_tls_context() -> None:
    kafka = KafkaConnection(
        "a:9096", "SASL_SSL", "SCRAM-SHA-256", "app", SecretStr("s3cret"), check_hostname=False
    )
    for options in (kafka.aiokafka(), kafka.kafka_python()):
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-256"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("app", "s3cret")
        assert options["ssl_context"].check_hostname is False
    assert kafka.kafka_python()["ssl_check_hostname"] is False
    credentials = kafka.faust_credentials()
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert "s3cret" not in repr(credentials) + repr(kafka) + str(kafka)


def test_settings_build_the_connection_and_keep_the_password_secret(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a client connects")
    settings = Settings(
        kafka_bootstrap="k:9093",
        kafka_security_protocol="SSL",
        kafka_ca_file=ca,
        kafka_password=SecretStr("hidden"),
    )
    assert settings.kafka.security_protocol == "SSL" and settings.kafka.ca_file == ca
    assert "hidden" not in repr(settings)
    env = settings.kafka_security_env()
    assert env["HOMEFEED_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert env["HOMEFEED_KAFKA_CA_FILE"] == str(ca)
    assert env["HOMEFEED_KAFKA_CHECK_HOSTNAME"] == "true"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"security_protocol": "TLS"}, "HOMEFEED_KAFKA_SECURITY_PROTOCOL must be one of"),
        (
            {"security_protocol": "SASL_SSL"},
            "needs HOMEFEED_KAFKA_USERNAME and HOMEFEED_KAFKA_PASSWORD",
        ),
        ({"sasl_mechanism": "GSSAPI"}, "HOMEFEED_KAFKA_SASL_MECHANISM must be one of"),
        (
            {"ca_file": Path("/no/such.pem")},
            "HOMEFEED_KAFKA_CA_FILE: /no/such.pem is not a readable",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_with_the_variable_named(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(KafkaSettingsError, match=message):
        KafkaConnection("k:9092", **options)  # type: ignore[arg-type]
