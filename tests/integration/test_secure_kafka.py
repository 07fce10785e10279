"""The pipeline over a SASL_SSL cluster, and the two ways a secured cluster refuses us.

A second local broker gets a SASL_SSL listener: a throwaway CA and broker
certificate made with openssl, SCRAM users created by Kafka's own storage
tool. Every process is the real CLI (worker, replay, homepage service) with
only ``HOMEFEED_KAFKA_*`` environment variables to reach it, as an operator
would configure a managed cluster.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr

from deploy.kafka import LocalBroker, free_ports
from deploy.kafka.secure import SecureListener, make_certificate_authority, make_test_pki
from streams.admin import create_topics, topic_size
from streams.processes import child_env, fresh_namespace, spawn, stop
from streams.settings import Settings
from streams.topics import TopicNames
from streams.wire import Ranking
from tests.factories import REPO_ROOT
from tests.live import wait_for
from tests.unit.click_factory import write_taste_folder

pytestmark = pytest.mark.integration

USER = "homefeed-app"
REFUSAL_S = 20.0  # "fails fast": well under any client's own retry timeout


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalBroker, str]]:
    folder = tmp_path_factory.mktemp("secure-kafka")
    password = secrets.token_urlsafe(16)
    port, controller_port, secure_port = free_ports(3)
    broker = LocalBroker(
        data_dir=folder / "broker",
        port=port,
        controller_port=controller_port,
        secure=SecureListener(secure_port, make_test_pki(folder / "pki"), {USER: password}),
    )
    broker.start(wait_s=120)
    try:
        yield broker, password
    finally:
        broker.stop()


def secured_settings(
    broker: LocalBroker, password: str, data_dir: Path, **changes: object
) -> Settings:
    assert broker.secure is not None
    base = Settings(
        kafka_bootstrap=broker.secure_bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username=USER,
        kafka_password=SecretStr(password),
        **{"kafka_ca_file": broker.secure.pki.ca_file, **changes},  # type: ignore[arg-type]
    )
    return fresh_namespace(base, "secure", data_dir=data_dir, partitions=2, standby_replicas=0)


def homefeed(
    args: list[str], env: dict[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def rankings(settings: Settings, topic: str) -> dict[str, Ranking]:
    """The latest ranking per user on ``topic``, read over the secured listener."""
    consumer = KafkaConsumer(**settings.kafka.kafka_python(), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        latest: dict[str, Ranking] = {}
        for batch in consumer.poll(timeout_ms=2000).values():
            for record in batch:
                if record.value is not None:
                    ranking = Ranking.decode(record.value)
                    latest[ranking.user_id] = ranking
        return latest
    finally:
        consumer.close()


def test_worker_replay_and_homepage_service_run_over_sasl_ssl(
    secure_broker: tuple[LocalBroker, str], tmp_path: Path
) -> None:
    broker, password = secure_broker
    settings = secured_settings(broker, password, tmp_path / "state")
    create_topics(settings)  # kafka-python's admin over SASL_SSL
    topics = TopicNames.from_settings(settings)
    data = write_taste_folder(tmp_path / "data", users=8, movies_per_genre=6, ratings_per_user=6)
    env = child_env(settings)
    port = free_ports(1)[0]
    worker = spawn(["worker", "--role", "all"], env, tmp_path / "worker.log", cwd=REPO_ROOT)
    service = spawn(["serve", "--port", str(port)], env, tmp_path / "serve.log", cwd=REPO_ROOT)
    try:
        # The catalog first and indexed, then the events: each user's homepage
        # then holds items (an event ranked before any item is indexed gets none).
        items = homefeed(["replay", "--data", str(data), "--items-only"], env, timeout_s=240)
        assert items.returncode == 0, items.stderr[-3000:]
        catalog = len((data / "movies.csv").read_text().splitlines()) - 1
        wait_for(
            lambda: topic_size(settings.kafka, topics.item_vectors) >= catalog,
            180,
            "the indexer to publish the catalog over SASL_SSL",
        )
        replayed = homefeed(["replay", "--data", str(data), "--events-only"], env, timeout_s=240)
        assert replayed.returncode == 0, replayed.stderr[-3000:]
        users = {line.split(",")[0] for line in (data / "ratings.csv").read_text().splitlines()[1:]}

        def everyone_ranked() -> bool:
            assert worker.poll() is None, "worker exited"
            ranked = rankings(settings, topics.rankings)
            return all(user in ranked and ranked[user].items for user in users)

        wait_for(everyone_ranked, 180, "a ranking for every replayed user over SASL_SSL")
        user = sorted(users)[0]

        last: list[object] = []

        def served() -> bool:
            assert service.poll() is None, "homepage service exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/homepage/{user}") as r:
                    body = json.loads(r.read())
            except OSError as error:
                last[:] = [error]
                return False
            last[:] = [body]
            return body["source"] == "ranking" and bool(body["items"])

        wait_for(served, 120, "the homepage service to serve a ranking read over SASL_SSL")
    except BaseException:
        print((tmp_path / "worker.log").read_text()[-4000:])
        print((tmp_path / "serve.log").read_text()[-2000:])
        print("last homepage answer:", last if "last" in locals() else None)
        raise
    finally:
        stop(service, timeout_s=30)
        stop(worker, timeout_s=30)
    for log in ("worker.log", "serve.log"):
        assert password not in (tmp_path / log).read_text(), f"the password is in {log}"


@pytest.mark.parametrize("command", [["topics", "create"], ["worker", "--role", "all"]])
def test_a_wrong_password_fails_fast_and_says_so(
    secure_broker: tuple[LocalBroker, str], tmp_path: Path, command: list[str]
) -> None:
    broker, password = secure_broker
    wrong = password + "-not"
    settings = secured_settings(broker, wrong, tmp_path / "state")
    started = time.monotonic()
    result = homefeed(command, child_env(settings), timeout_s=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr[-2000:]
    assert elapsed < REFUSAL_S, f"took {elapsed:.1f}s to refuse"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "wrong user name or password" in lines[0] and USER in lines[0], lines[0]
    assert wrong not in result.stderr + result.stdout


def test_an_untrusted_certificate_fails_fast_and_says_so(
    secure_broker: tuple[LocalBroker, str], tmp_path: Path
) -> None:
    broker, password = secure_broker
    stranger = make_certificate_authority(tmp_path / "other-ca", name="not-the-brokers-ca")
    settings = secured_settings(broker, password, tmp_path / "state", kafka_ca_file=stranger)
    started = time.monotonic()
    result = homefeed(["replay", "--data", str(tmp_path)], child_env(settings), timeout_s=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert time.monotonic() - started < REFUSAL_S
    line = result.stderr.strip()
    assert "certificate" in line and "not trusted" in line and "HOMEFEED_KAFKA_CA_FILE" in line, (
        line
    )
    assert "\n" not in line and password not in line


def test_secrets_stay_out_of_help_repr_and_errors(secure_broker: tuple[LocalBroker, str]) -> None:
    broker, password = secure_broker
    settings = secured_settings(broker, password, Path("unused"))
    assert password not in repr(settings) + str(settings) + repr(settings.kafka)
    assert password not in repr(settings.kafka.faust_credentials())
    shown = homefeed(["worker", "--help"], child_env(settings), timeout_s=60)
    assert shown.returncode == 0 and password not in shown.stdout + shown.stderr
    missing = homefeed(
        ["topics", "create"],
        {**child_env(settings), "HOMEFEED_KAFKA_CA_FILE": "/no/such/ca.pem"},
        timeout_s=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "homefeed: Kafka: HOMEFEED_KAFKA_CA_FILE: /no/such/ca.pem is not a readable file"
    )
