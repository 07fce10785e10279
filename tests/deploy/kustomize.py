"""A small Kustomize renderer for the features deploy/k8s uses.

No kubectl or kustomize binary exists where the tests run, so this renders a
kustomization the way ``kubectl kustomize`` does for the subset we rely on,
and refuses anything else loudly (an unknown field would otherwise be silently
ignored here and behave differently in a real cluster):

* ``resources`` (files or kustomization folders) and ``components``
  (``kind: Component`` folders, applied to what was accumulated so far);
* ``configMapGenerator`` with ``files``/``literals`` and
  ``disableNameSuffixHash: true`` (hash suffixes would need name-reference
  rewriting, which this renderer does not do);
* ``patches``: JSON 6902 (a list of operations) or strategic merge (a map),
  selected by ``target`` kind/name; a patch that matches nothing is an error;
* ``namespace``, ``labels`` (``includeSelectors: false``), ``images``.

Transformers run in Kustomize's order: patches, namespace, labels, images.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "configMapGenerator",
    "patches",
    "namespace",
    "labels",
    "images",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Strategic-merge keys of the list fields our patches touch; other lists are replaced.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "volumeClaimTemplates": "metadata.name",
}


class KustomizeError(ValueError):
    """The kustomization uses something this renderer (or Kustomize) rejects."""


def render(folder: Path) -> list[Resource]:
    """Render the kustomization in ``folder`` into a list of resources."""
    resources = _build(folder, accumulated=[], component=False)
    _check_unique(resources)
    return resources


def _build(folder: Path, accumulated: list[Resource], component: bool) -> list[Resource]:
    spec = _load_kustomization(folder, component)
    resources = list(accumulated)
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            resources.extend(_build(path, accumulated=[], component=False))
        elif path.is_file():
            resources.extend(_load_yaml_documents(path))
        else:
            raise KustomizeError(f"{folder}: resource {entry!r} does not exist")
    for entry in spec.get("components", []):
        resources = _build((folder / entry).resolve(), accumulated=resources, component=True)
    for generator in spec.get("configMapGenerator", []):
        resources.append(_config_map(folder, generator))
    for patch in spec.get("patches", []):
        _apply_patch(folder, patch, resources)
    if "namespace" in spec:
        _set_namespace(resources, spec["namespace"])
    for label_set in spec.get("labels", []):
        _add_labels(resources, label_set)
    for image in spec.get("images", []):
        _set_image(resources, image)
    return resources


def _load_kustomization(folder: Path, component: bool) -> dict[str, Any]:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder} has no kustomization.yaml")
    spec = yaml.safe_load(path.read_text())
    unknown = set(spec) - KUSTOMIZATION_FIELDS
    if unknown:
        raise KustomizeError(f"{path}: fields this renderer does not support: {sorted(unknown)}")
    expected = "Component" if component else "Kustomization"
    if spec.get("kind", "Kustomization") != expected:
        raise KustomizeError(f"{path}: kind {spec.get('kind')!r}, expected {expected}")
    return spec


def _load_yaml_documents(path: Path) -> list[Resource]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for doc in documents:
        if not {"apiVersion", "kind", "metadata"} <= set(doc):
            raise KustomizeError(f"{path}: a document lacks apiVersion, kind or metadata")
    return documents


def _config_map(folder: Path, generator: dict[str, Any]) -> Resource:
    options = generator.get("options", {})
    if not options.get("disableNameSuffixHash"):
        raise KustomizeError(
            f"configMapGenerator {generator['name']!r}: set options.disableNameSuffixHash "
            "(this renderer does not rewrite references to hashed names)"
        )
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, source = entry.rpartition("=") if "=" in entry else ("", "", entry)
        path = folder / source
        data[key or path.name] = path.read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    metadata: dict[str, Any] = {"name": generator["name"]}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _apply_patch(folder: Path, patch: dict[str, Any], resources: list[Resource]) -> None:
    text = patch["patch"] if "patch" in patch else (folder / patch["path"]).read_text()
    body = yaml.safe_load(text)
    target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
    matched = [
        resource
        for resource in resources
        if resource["kind"] == target.get("kind", resource["kind"])
        and resource["metadata"]["name"] == target.get("name", resource["metadata"]["name"])
    ]
    if not matched:
        raise KustomizeError(f"{folder}: patch target {target} matches no resource")
    for resource in matched:
        if isinstance(body, list):
            for operation in body:
                _json6902(resource, operation)
        else:
            patched = _strategic_merge(resource, body, key="")
            resource.clear()
            resource.update(patched)


def _json6902(document: Resource, operation: dict[str, Any]) -> None:
    """Apply one RFC 6902 add/remove/replace operation in place."""
    tokens = [
        token.replace("~1", "/").replace("~0", "~") for token in operation["path"].split("/")[1:]
    ]
    parent: Any = document
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last, op = tokens[-1], operation["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, copy.deepcopy(operation["value"]))
        elif op == "remove":
            del parent[index]
        elif op == "replace":
            parent[index] = copy.deepcopy(operation["value"])
        else:
            raise KustomizeError(f"unsupported JSON patch op {op!r}")
        return
    if op in ("remove", "replace") and last not in parent:
        raise KustomizeError(f"JSON patch {op} of missing path {operation['path']}")
    if op == "remove":
        del parent[last]
    elif op in ("add", "replace"):
        parent[last] = copy.deepcopy(operation["value"])
    else:
        raise KustomizeError(f"unsupported JSON patch op {op!r}")


def _strategic_merge(base: Any, patch: Any, key: str) -> Any:
    """Merge ``patch`` into ``base``: maps recursively, keyed lists by their merge key."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)  # `field: null` deletes, as in Kubernetes
            elif name in merged:
                merged[name] = _strategic_merge(merged[name], value, name)
            else:
                merged[name] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        merged_list = copy.deepcopy(base)
        for item in patch:
            item_key = _dig(item, MERGE_KEYS[key])
            for index, existing in enumerate(merged_list):
                if _dig(existing, MERGE_KEYS[key]) == item_key:
                    merged_list[index] = _strategic_merge(existing, item, "")
                    break
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _dig(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] == "Namespace":
            resource["metadata"]["name"] = namespace
        elif resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace


def _add_labels(resources: list[Resource], label_set: dict[str, Any]) -> None:
    if label_set.get("includeSelectors"):
        raise KustomizeError(
            "labels with includeSelectors are not supported (selectors are immutable)"
        )
    pairs = label_set["pairs"]
    for resource in resources:
        resource["metadata"].setdefault("labels", {}).update(pairs)
        if label_set.get("includeTemplates") and resource["kind"] in POD_TEMPLATE_KINDS:
            template = resource["spec"]["template"]
            template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    for container in pod_containers(resources):
        name, tag = split_image(container["image"])
        if name != image["name"]:
            continue
        new_name = image.get("newName", name)
        new_tag = image.get("newTag", tag)
        container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def split_image(reference: str) -> tuple[str, str | None]:
    """``registry:5000/app:1.0`` -> (``registry:5000/app``, ``1.0``)."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, None
    return name, tag


def pod_containers(resources: list[Resource]) -> list[dict[str, Any]]:
    """Every container and init container of every pod template."""
    containers: list[dict[str, Any]] = []
    for resource in resources:
        if resource["kind"] in POD_TEMPLATE_KINDS:
            pod = resource["spec"]["template"]["spec"]
            containers += pod.get("initContainers", []) + pod["containers"]
    return containers


def _check_unique(resources: list[Resource]) -> None:
    seen: set[tuple[str, str | None, str]] = set()
    for resource in resources:
        ident = (
            resource["kind"],
            resource["metadata"].get("namespace"),
            resource["metadata"]["name"],
        )
        if ident in seen:
            raise KustomizeError(f"two resources with the same id {ident}")
        seen.add(ident)
