"""The Kubernetes manifests: they render, validate, and use only what the code provides.

No cluster runs here. Each kustomization under deploy/k8s is rendered with
tests/deploy/kustomize.py; built-in kinds are validated (strict: unknown fields
fail) against the Kubernetes JSON schemas bundled in kubernetes-validate, the
KEDA and Prometheus-operator kinds against tests/deploy/crd_schemas.py; then
commands, settings, probes and queries are checked against the real code.
"""

from __future__ import annotations

import copy
import json
from dataclasses import astuple

import jsonschema
import kubernetes_validate
import pytest

from streams.topics import TopicNames
from tests.deploy.crd_schemas import CUSTOM_RESOURCE_SCHEMAS
from tests.deploy.kustomize import CLUSTER_SCOPED, pod_containers
from tests.deploy.support import (
    KUSTOMIZATIONS,
    check_promql,
    container_env,
    find,
    homepage_routes,
    is_homefeed_image,
    parse_command,
    rendered,
    settings_from_env,
)

# The oldest Kubernetes still in wide use, and the newest the package knows.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())
NAMESPACE = "homefeed"


def _homefeed_containers(name: str) -> list[tuple[dict, dict]]:
    resources = rendered(name)
    return [
        (container, container_env(resources, container))
        for container in pod_containers(list(resources))
        if is_homefeed_image(container["image"])
    ]


def _workload_container(name: str, kind: str, workload: str) -> tuple[dict, dict[str, str]]:
    resources = rendered(name)
    container = find(resources, kind, workload)["spec"]["template"]["spec"]["containers"][0]
    return container, container_env(resources, container)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_resource_lands_in_the_homefeed_namespace(name: str) -> None:
    resources = rendered(name)
    assert {r["kind"] for r in resources} >= {"StatefulSet", "Deployment", "Job", "Service"}
    for resource in resources:
        if resource["kind"] not in CLUSTER_SCOPED:
            assert resource["metadata"].get("namespace") == NAMESPACE, resource["metadata"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_builtin_kinds_validate_against_the_kubernetes_schemas(name: str, version: str) -> None:
    builtin = [
        r for r in rendered(name) if (r["apiVersion"], r["kind"]) not in CUSTOM_RESOURCE_SCHEMAS
    ]
    for resource in builtin:
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_schema_validation_catches_a_misspelt_field() -> None:
    statefulset = copy.deepcopy(find(rendered("base"), "StatefulSet", "homefeed-ranker"))
    statefulset["spec"]["replica"] = statefulset["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_custom_resources_match_their_schemas(name: str) -> None:
    for resource in rendered(name):
        key = (resource["apiVersion"], resource["kind"])
        # Kinds without a schema here fail the built-in validation instead.
        if key in CUSTOM_RESOURCE_SCHEMAS:
            jsonschema.validate(resource, CUSTOM_RESOURCE_SCHEMAS[key])


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_containers_run_real_homefeed_commands_with_real_settings(name: str) -> None:
    containers = _homefeed_containers(name)
    assert len(containers) == 4  # topics job, indexer, ranker, homepage
    for container, env in containers:
        assert "command" not in container, "the image's ENTRYPOINT is homefeed; use args"
        parse_command(container["args"])
        settings = settings_from_env(env)
        assert settings.uses_external_kafka, f"{container['name']}: no HOMEFEED_KAFKA_BOOTSTRAP"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_roles_have_their_own_consumer_groups(name: str) -> None:
    groups = {
        " ".join(container["args"]): settings_from_env(env).app_id
        for container, env in _homefeed_containers(name)
        if container["args"][0] != "topics"
    }
    assert set(groups) == {
        "worker --role indexer",
        "worker --role ranker",
        "serve --host 0.0.0.0 --port 8080",
    }
    assert len(set(groups.values())) == 3, groups


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_probes_reach_endpoints_the_processes_serve(name: str) -> None:
    for container, env in _homefeed_containers(name):
        probes = [
            container[p]
            for p in ("startupProbe", "livenessProbe", "readinessProbe")
            if p in container
        ]
        if container["args"][0] == "topics":
            assert not probes
            continue
        assert probes, f"{container['name']} has no probe"
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        for probe in probes:
            port = ports[probe["httpGet"]["port"]]
            path = probe["httpGet"]["path"]
            if container["args"][0] == "serve":
                assert port == parse_command(container["args"]).port
                assert path in homepage_routes(), f"the homepage service serves no {path}"
            else:
                # Faust's web server answers `/`, and only when enabled.
                settings = settings_from_env(env)
                assert settings.web_enabled and port == settings.web_port and path == "/"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_ranking_workers_keep_state_on_a_volume_with_standbys(name: str) -> None:
    statefulset = find(rendered(name), "StatefulSet", "homefeed-ranker")
    container, env = _workload_container(name, "StatefulSet", "homefeed-ranker")
    settings = settings_from_env(env)
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(settings.data_dir)] in claims
    assert settings.store.startswith("rocksdb")
    assert settings.standby_replicas >= 1
    assert statefulset["spec"]["replicas"] > settings.standby_replicas


def test_the_production_indexer_gets_a_gpu_and_the_local_one_does_not() -> None:
    production, production_env = _workload_container(
        "overlays/production", "Deployment", "homefeed-indexer"
    )
    assert production["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert settings_from_env(production_env).device == "cuda"
    assert production["image"].endswith("-gpu")
    local, local_env = _workload_container("overlays/local", "Deployment", "homefeed-indexer")
    assert "nvidia.com/gpu" not in json.dumps(local["resources"])
    assert settings_from_env(local_env).device == "cpu"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_topics_job_creates_the_topics(name: str) -> None:
    job = find(rendered(name), "Job", "homefeed-topics")
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["topics", "create"]
    assert pod["restartPolicy"] == "OnFailure"


def test_autoscaling_follows_the_ranking_group_on_the_events_topic() -> None:
    resources = rendered("overlays/production")
    scaled = find(resources, "ScaledObject", "homefeed-ranker")
    target = scaled["spec"]["scaleTargetRef"]
    find(resources, target["kind"], target["name"])
    _, env = _workload_container("overlays/production", target["kind"], target["name"])
    settings = settings_from_env(env)
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    assert trigger["bootstrapServers"] == settings.bootstrap_servers
    assert trigger["consumerGroup"] == settings.app_id
    assert trigger["topic"] == TopicNames.from_settings(settings).events
    # More workers than partitions would idle; fewer than two leaves no standby.
    assert settings.standby_replicas < scaled["spec"]["minReplicaCount"]
    assert scaled["spec"]["maxReplicaCount"] <= settings.partitions


def _names_in_use(name: str) -> tuple[set[str], set[str]]:
    """Full topic names and consumer groups the workloads of ``name`` use."""
    topics, groups = set(), set()
    for container, env in _homefeed_containers(name):
        settings = settings_from_env(env)
        topics |= set(astuple(TopicNames.from_settings(settings)))
        if container["args"][0] == "worker":
            groups.add(settings.app_id)
    return topics, groups


def test_dashboard_queries_use_exported_series_topics_and_groups() -> None:
    config_map = find(rendered("overlays/production"), "ConfigMap", "homefeed-grafana-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["homefeed.json"])
    variables = {v["name"]: v.get("query") for v in dashboard["templating"]["list"]}
    topics, groups = _names_in_use("overlays/production")
    titles = set()
    for panel in dashboard["panels"]:
        titles.add(panel["title"])
        for target in panel["targets"]:
            expr = target["expr"]
            for variable in ("prefix", "ranker_group", "indexer_group"):
                expr = expr.replace(f"${{{variable}}}", variables[variable])
                expr = expr.replace(f"${variable}", variables[variable])
            for _, label, value in check_promql(expr):
                assert label != "topic" or value in topics, value
                assert label != "consumergroup" or value in groups, value
    for needed in ("Throughput", "Consumer lag", "Dead-letter rate"):
        assert needed in titles
    assert any("Freshness" in t for t in titles) and any("Model version" in t for t in titles)


def test_alerts_use_exported_series_topics_and_groups() -> None:
    rule = find(rendered("overlays/production"), "PrometheusRule", "homefeed")
    topics, groups = _names_in_use("overlays/production")
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            for _, label, value in check_promql(alert["expr"]):
                assert label != "topic" or value in topics, (alert["alert"], value)
                assert label != "consumergroup" or value in groups, (alert["alert"], value)


def test_production_reaches_kafka_over_sasl_ssl_with_credentials_from_secrets() -> None:
    resources = rendered("overlays/production")
    text = json.dumps(resources)
    assert "from-the-secret" not in text  # no password in any manifest
    for container, env in _homefeed_containers("overlays/production"):
        settings = settings_from_env(env)
        assert settings.kafka_security_protocol == "SASL_SSL", container["name"]
        assert settings.kafka_password is not None
        assert {"secretRef": {"name": "homefeed-kafka-credentials"}} in container["envFrom"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert str(settings.kafka_ca_file).startswith(mounts["kafka-ca"] + "/"), container["name"]
    for workload in resources:
        pod = workload.get("spec", {}).get("template", {}).get("spec", {})
        for volume in pod.get("volumes", []):
            if volume["name"] == "kafka-ca":
                assert volume["secret"]["secretName"] == "homefeed-kafka-ca"
    exporter = find(resources, "Deployment", "homefeed-kafka-exporter")
    args = exporter["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--sasl.enabled" in args and "--tls.enabled" in args
    # The local overlay stays plaintext (the dev broker has no TLS).
    for _, env in _homefeed_containers("overlays/local"):
        assert settings_from_env(env).kafka_security_protocol == "PLAINTEXT"
