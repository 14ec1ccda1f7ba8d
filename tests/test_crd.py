"""The generated CRD: committed, schema-valid, structural, and its CEL rules sound."""

from __future__ import annotations

import re
from typing import Any, Iterator

import celpy
import kubernetes_validate
import pytest
import yaml

from modeldeploy.cli import main
from modeldeploy.crdgen import build_crd

from conftest import REPO

pytestmark = pytest.mark.unit

CRD_FILE = REPO / "crds" / "serving.modeldeploy.io_modeldeployments.yaml"
KUBERNETES_VERSION = "1.33"

# Standard CEL plus what Kubernetes adds (strings, lists, regex, quantity, url);
# a rule using anything else would be refused by the API server.
KUBERNETES_CEL_FUNCTIONS = {
    "has", "size", "matches", "contains", "startsWith", "endsWith", "all", "exists", "exists_one", "map",
    "filter", "int", "uint", "double", "string", "bool", "type", "duration", "timestamp",
    "split", "lowerAscii", "upperAscii", "trim", "replace", "indexOf", "lastIndexOf", "join", "substring",
    "isSorted", "sum", "min", "max", "quantity", "isQuantity", "url", "isURL",
}


def _schema() -> dict:
    return build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _nodes(schema: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    yield path or "<root>", schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}.*")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")


def test_committed_crd_matches_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    generated = capsys.readouterr().out
    assert CRD_FILE.read_text() == generated, (
        "crds/ drifted from the API models: run `modeldeploy crd > crds/serving.modeldeploy.io_modeldeployments.yaml`"
    )


def test_crd_is_valid_against_the_official_apiextensions_schema() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)


def test_schema_is_structural() -> None:
    problems: list[str] = []
    for path, node in _nodes(_schema()):
        for banned in ("$ref", "$defs", "title", "nullable", "oneOf", "allOf", "not", "const", "exclusiveMinimum"):
            if banned in node:
                problems.append(f"{path}: has {banned}")
        if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
            problems.append(f"{path}: anyOf outside int-or-string")
        if not (node.get("type") or node.get("x-kubernetes-int-or-string")):
            problems.append(f"{path}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: both properties and additionalProperties")
        if node.get("additionalProperties") is False:
            problems.append(f"{path}: additionalProperties false")
        for key in node.get("x-kubernetes-list-map-keys", []):
            item = node["items"]
            if key not in item.get("required", []) and "default" not in item["properties"][key]:
                problems.append(f"{path}: list map key {key} is neither required nor defaulted")
    assert problems == []


def test_metadata_is_left_to_the_api_server() -> None:
    assert _schema()["properties"]["metadata"] == {"type": "object"}


def _rules() -> list[tuple[str, dict[str, Any]]]:
    return [(path, rule) for path, node in _nodes(_schema()) for rule in node.get("x-kubernetes-validations", [])]


def test_cel_rules_compile_and_use_only_kubernetes_functions() -> None:
    env = celpy.Environment()
    rules = _rules()
    assert len(rules) >= 10
    for path, rule in rules:
        env.compile(rule["rule"])
        used = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", rule["rule"]))
        assert used <= KUBERNETES_CEL_FUNCTIONS, f"{path}: {sorted(used - KUBERNETES_CEL_FUNCTIONS)}"
        assert rule["message"], f"{path}: rule without a message"


def test_crd_has_printer_columns_subresources_and_short_names() -> None:
    version = build_crd()["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Ready", "Version", "Traffic", "Replicas", "URL", "Age"]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector"}
    assert "md" in build_crd()["spec"]["names"]["shortNames"]


def test_cross_field_rules_are_in_the_crd() -> None:
    messages = {rule["message"] for _, rule in _rules()}
    for expected in ("minReplicas must be <= maxReplicas", "rollout step weights must be strictly increasing",
                     "set either gpus (whole GPUs) or migProfile (a MIG slice), not both",
                     "model.name is immutable; create a new ModelDeployment to serve a different model"):
        assert expected in messages


def test_the_rollout_phases_are_the_ones_the_rollout_sets_and_the_docs_name() -> None:
    # A phase nothing sets would be one a user writes an alert or a `kubectl wait` for, and waits forever.
    phase = _schema()["properties"]["status"]["properties"]["rollout"]["properties"]["phase"]
    assert phase["enum"] == ["Stable", "Progressing", "Paused", "Aborted"]
    documented = next(line for line in (REPO / "docs" / "rollouts.md").read_text().splitlines()
                      if line.startswith("| `status.rollout.phase` |"))
    assert re.findall(r"`(\w+)`", documented.split("|")[2]) == phase["enum"]
