"""Minimal JSON schemas for the custom resources in deploy/k8s.

kubernetes-validate bundles schemas for built-in kinds only. KEDA's and the
Prometheus operator's CRD schemas are not on PyPI, so these cover the fields
deploy/k8s uses, with ``additionalProperties: false`` where a typo would
otherwise be ignored by the cluster. Field names follow KEDA v2
(keda.sh/v1alpha1) and prometheus-operator (monitoring.coreos.com/v1).
"""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _NAME,
        "namespace": _NAME,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}
_LABEL_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
    "required": ["matchLabels"],
    "additionalProperties": False,
}
_DURATION = {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}


def _resource(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


# KEDA's kafka trigger takes every metadata value as a string.
_KAFKA_TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "properties": {
        "type": {"const": "kafka"},
        "metadata": {
            "type": "object",
            "required": ["bootstrapServers", "consumerGroup", "topic", "lagThreshold"],
            "properties": {
                "bootstrapServers": {"type": "string", "minLength": 1},
                "consumerGroup": {"type": "string", "minLength": 1},
                "topic": {"type": "string", "minLength": 1},
                "lagThreshold": {"type": "string", "pattern": "^[0-9]+$"},
                "activationLagThreshold": {"type": "string", "pattern": "^[0-9]+$"},
                "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                "allowIdleConsumers": {"enum": ["true", "false"]},
                "scaleToZeroOnInvalidOffset": {"enum": ["true", "false"]},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

_HPA_POLICY = {
    "type": "object",
    "required": ["type", "value", "periodSeconds"],
    "properties": {
        "type": {"enum": ["Pods", "Percent"]},
        "value": {"type": "integer", "minimum": 1},
        "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800},
    },
    "additionalProperties": False,
}
_HPA_RULES = {
    "type": "object",
    "properties": {
        "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "policies": {"type": "array", "items": _HPA_POLICY, "minItems": 1},
    },
    "additionalProperties": False,
}

SCALED_OBJECT = _resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    {
        "type": "object",
        "required": ["scaleTargetRef", "triggers"],
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": _NAME,
                },
                "additionalProperties": False,
            },
            "minReplicaCount": {"type": "integer", "minimum": 0},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            "advanced": {
                "type": "object",
                "properties": {
                    "horizontalPodAutoscalerConfig": {
                        "type": "object",
                        "properties": {
                            "behavior": {
                                "type": "object",
                                "properties": {"scaleUp": _HPA_RULES, "scaleDown": _HPA_RULES},
                                "additionalProperties": False,
                            }
                        },
                        "additionalProperties": False,
                    }
                },
                "additionalProperties": False,
            },
            "triggers": {"type": "array", "items": _KAFKA_TRIGGER, "minItems": 1},
        },
        "additionalProperties": False,
    },
)

SERVICE_MONITOR = _resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    {
        "type": "object",
        "required": ["selector", "endpoints"],
        "properties": {
            "selector": _LABEL_SELECTOR,
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["port"],
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string", "pattern": "^/"},
                        "interval": _DURATION,
                    },
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    },
)

PROMETHEUS_RULE = _resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    {
        "type": "object",
        "required": ["groups"],
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "rules"],
                    "properties": {
                        "name": {"type": "string"},
                        "rules": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["alert", "expr", "labels", "annotations"],
                                "properties": {
                                    "alert": {
                                        "type": "string",
                                        "pattern": "^[A-Za-z][A-Za-z0-9]*$",
                                    },
                                    "expr": {"type": "string", "minLength": 1},
                                    "for": _DURATION,
                                    "labels": {
                                        "type": "object",
                                        "required": ["severity"],
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "annotations": {
                                        "type": "object",
                                        "required": ["summary"],
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                                "additionalProperties": False,
                            },
                        },
                    },
                    "additionalProperties": False,
                },
            }
        },
        "additionalProperties": False,
    },
)

CUSTOM_RESOURCE_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
}
