"""deploy/docker-compose.yml: valid Compose, real commands, settings and health checks.

The Compose Specification schema comes from check-jsonschema's vendored copy
(its ``--builtin-schema vendor.compose-spec``). We validate with jsonschema
directly: check-jsonschema's CLI needs click >= 8.4, and the lock pins
click < 8.4 for faust-streaming, so the CLI does not start here.
"""

from __future__ import annotations

import base64
import copy
import importlib.metadata
import json
import re
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.support import (
    DEPLOY,
    REPO,
    homepage_routes,
    parse_command,
    settings_from_env,
)

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[^'\"]*)")


@cache
def compose() -> dict[str, Any]:
    # PyYAML resolves the `<<:` merge keys, as Compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text())


@cache
def compose_schema() -> dict[str, Any]:
    distribution = importlib.metadata.distribution("check-jsonschema")
    path = distribution.locate_file("check_jsonschema/builtin_schemas/vendor/compose-spec.json")
    return json.loads(path.read_text())  # type: ignore[union-attr]


def homefeed_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if "build" in service and service["build"]["dockerfile"].startswith("deploy/Dockerfile")
    }


def test_the_file_matches_the_compose_specification() -> None:
    jsonschema.Draft202012Validator(compose_schema()).validate(compose())


def test_the_compose_schema_rejects_a_misspelt_key() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["ranker"]["comand"] = broken["services"]["ranker"].pop("command")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


def test_images_build_from_files_in_the_repository() -> None:
    services = homefeed_services()
    assert set(services) == {"topics", "indexer", "ranker", "homepage", "indexer-gpu"}
    for service in services.values():
        context = (COMPOSE_FILE.parent / service["build"]["context"]).resolve()
        assert context == REPO
        assert (context / service["build"]["dockerfile"]).is_file()


def test_services_run_real_commands_with_real_settings() -> None:
    for name, service in homefeed_services().items():
        parse_command(service["command"])
        settings = settings_from_env(service["environment"])
        assert settings.bootstrap_servers == "kafka:9092", name
        depends = service["depends_on"]
        if name == "topics":
            assert depends == {"kafka": {"condition": "service_healthy"}}
        else:
            assert depends["topics"]["condition"] == "service_completed_successfully"


def test_the_broker_is_apache_kafka_391_in_kraft_mode() -> None:
    kafka = compose()["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"] == "apache/kafka:3.9.1"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    # Kafka refuses to format storage unless the cluster id is 16 bytes in base64url.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert kafka["volumes"][0].split(":")[1] == env["KAFKA_LOG_DIRS"]


def test_health_checks_reach_endpoints_the_processes_serve() -> None:
    for name, service in homefeed_services().items():
        if name == "topics":
            continue
        port, path = _URL.search(" ".join(service["healthcheck"]["test"])).groups()  # type: ignore[union-attr]
        args = parse_command(service["command"])
        if args.command == "serve":
            assert int(port) == args.port and path in homepage_routes()
        else:
            settings = settings_from_env(service["environment"])
            assert settings.web_enabled and int(port) == settings.web_port and path == "/"


def test_ranking_workers_can_be_scaled_without_sharing_state() -> None:
    ranker = compose()["services"]["ranker"]
    settings = settings_from_env(ranker["environment"])
    # A fixed name or host port would stop `--scale ranker=N`; a named volume
    # would make two workers open the same RocksDB files.
    assert "container_name" not in ranker and "ports" not in ranker
    assert ranker["volumes"] == [str(settings.data_dir)]
    assert 1 < ranker["deploy"]["replicas"] <= settings.partitions
    indexer = compose()["services"]["indexer"]
    assert settings_from_env(indexer["environment"]).app_id != settings.app_id
