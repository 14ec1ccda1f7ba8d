"""ModelDeployment documents for tests: a minimal valid one and ways to break it."""

from __future__ import annotations

import copy
from typing import Any

MINIMAL: dict[str, Any] = {
    "apiVersion": "serving.modeldeploy.io/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "demo", "namespace": "team-a"},
    "spec": {"model": {"uri": "s3://models/demo/model.onnx", "version": "1", "format": "onnx"}},
}


def minimal() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


def with_(*edits: tuple[str, Any]) -> dict[str, Any]:
    """minimal() with dotted-path edits applied, e.g. with_(("spec.replicas", 3))."""
    doc = minimal()
    for path, value in edits:
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc


