"""What the deployment tests share: rendered manifests and checks against the real code."""

from __future__ import annotations

import contextlib
import io
import re
from functools import cache
from pathlib import Path
from typing import Any

from streams.cli import build_parser
from streams.settings import Settings
from tests.deploy.kustomize import Resource, render, split_image

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = ("base", "overlays/local", "overlays/production")
HOMEFEED_IMAGES = {"homefeed", "homefeed-gpu"}
ENV_PREFIX = "HOMEFEED_"
# What the Secrets the manifests name hold (deploy/k8s/components/kafka-sasl-ssl).
SECRET_PLACEHOLDERS = {
    "homefeed-kafka-credentials": {
        "HOMEFEED_KAFKA_USERNAME": "homefeed",
        "HOMEFEED_KAFKA_PASSWORD": "from-the-secret",
    }
}


@cache
def rendered(kustomization: str) -> tuple[Resource, ...]:
    """The resources of one kustomization under deploy/k8s (rendered once per run)."""
    return tuple(render(K8S / kustomization))


def find(resources: tuple[Resource, ...], kind: str, name: str) -> Resource:
    """The one resource of ``kind`` called ``name``."""
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def is_homefeed_image(reference: str) -> bool:
    """True for images built from deploy/Dockerfile*, under any registry."""
    name, _ = split_image(reference)
    return name.rsplit("/", 1)[-1] in HOMEFEED_IMAGES


def container_env(resources: tuple[Resource, ...], container: dict[str, Any]) -> dict[str, str]:
    """A container's environment: its ConfigMaps (envFrom), then its own env entries.

    Secrets are not in the manifests (operators create them): a container that
    reads one gets :data:`SECRET_PLACEHOLDERS` for the keys it must hold.
    """
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            env.update(SECRET_PLACEHOLDERS[source["secretRef"]["name"]])
            continue
        config_map = find(resources, "ConfigMap", source["configMapRef"]["name"])
        env.update(config_map["data"])
    for entry in container.get("env", []):
        env[entry["name"]] = entry["value"]
    return env


def settings_from_env(env: dict[str, str]) -> Settings:
    """Build the Settings a process with ``env`` would get; fails on names or values it rejects.

    Settings ignores unknown ``HOMEFEED_*`` variables (``extra="ignore"``), so a
    misspelt one would silently do nothing: check the names first.
    """
    fields = {f"{ENV_PREFIX}{name.upper()}": name for name in Settings.model_fields}
    ours = {key: value for key, value in env.items() if key.startswith(ENV_PREFIX)}
    unknown = sorted(set(ours) - set(fields))
    assert not unknown, f"not settings in streams/settings.py: {unknown}"
    return Settings(**{fields[key]: value for key, value in ours.items()})  # type: ignore[arg-type]


def parse_command(argv: list[str]) -> Any:
    """Parse ``argv`` with the real ``homefeed`` parser; fails on unknown commands or options."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return build_parser().parse_args(argv)
    except SystemExit as error:
        raise AssertionError(
            f"`homefeed {' '.join(argv)}` is rejected: {stderr.getvalue()}"
        ) from error


@cache
def homepage_routes() -> frozenset[str]:
    """Paths the homepage service really serves (built without touching Kafka)."""
    from streams.homepage.app import build_app
    from streams.settings import load_settings

    app = build_app(load_settings(), follow_topics=False)
    return frozenset(getattr(route, "path", "") for route in app.routes)


# What kafka_exporter (github.com/danielqsj/kafka_exporter) exports and our
# queries use, with the labels they filter or group on.
KAFKA_EXPORTER_METRICS: dict[str, set[str]] = {
    "kafka_consumergroup_lag": {"consumergroup", "topic", "partition"},
    "kafka_consumergroup_current_offset": {"consumergroup", "topic", "partition"},
    "kafka_consumergroup_members": {"consumergroup"},
    "kafka_topic_partition_current_offset": {"topic", "partition"},
}
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


@cache
def homepage_metrics() -> dict[str, set[str]]:
    """Series names the homepage service exports, each with its label names."""
    from prometheus_client.metrics import MetricWrapperBase

    from streams.homepage.metrics import HomepageMetrics

    series: dict[str, set[str]] = {}
    for metric in vars(HomepageMetrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        if metric._type == "counter":
            series[f"{metric._name}_total"] = labels
        elif metric._type == "histogram":
            series.update({metric._name + s: labels | {"le"} for s in _HISTOGRAM_SUFFIXES})
        else:
            series[metric._name] = labels
    return series


_METRIC = re.compile(r"\b((?:kafka|homefeed)_[a-z0-9_]+)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'([a-z_]+)\s*=~?\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def check_promql(expr: str) -> list[tuple[str, str, str]]:
    """Check that every series and label in ``expr`` exists; return its (metric, label, value)."""
    exported = {**KAFKA_EXPORTER_METRICS, **homepage_metrics()}
    used = _METRIC.findall(expr)
    assert used, f"no metric in {expr!r}"
    filters = []
    for name, selector in used:
        assert name in exported, f"{name} is exported by neither kafka_exporter nor the service"
        for label, value in _MATCHER.findall(selector):
            assert label in exported[name], f"{name} has no label {label!r}"
            filters.append((name, label, value))
    grouping = {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",")}
    available = set().union(*(exported[name] for name, _ in used))
    assert grouping <= available | {""}, f"grouping by {grouping - available} in {expr!r}"
    return filters
