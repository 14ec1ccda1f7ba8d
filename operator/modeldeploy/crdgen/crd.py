"""The ModelDeployment CustomResourceDefinition, generated from the API models."""

from __future__ import annotations

from typing import Any

from ..api import API_VERSION, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION, ModelDeployment
from .structural import to_structural

PRINTER_COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Version", "type": "string", "jsonPath": ".spec.model.version"},
    {"name": "Traffic", "type": "string", "jsonPath": ".status.traffic"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".status.readyReplicas",
     "description": "Ready replicas across all revisions"},
    {"name": "URL", "type": "string", "jsonPath": ".status.url"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def resource_schema() -> dict[str, Any]:
    """The openAPIV3Schema of ModelDeployment."""
    schema = to_structural(ModelDeployment.model_json_schema(by_alias=True, mode="validation"))
    props = schema["properties"]
    # The API server owns these; a CRD may not constrain metadata beyond name.
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    schema["description"] = (
        f"A model served by NVIDIA Triton Inference Server ({API_VERSION}): where the model comes from, "
        "its Triton config, the pods that run it, autoscaling and rollout."
    )
    return schema


CRD_LABELS = {"app.kubernetes.io/name": "modeldeploy", "app.kubernetes.io/part-of": "modeldeploy"}


def build_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": CRD_LABELS,
            # `helm uninstall` must never delete a CRD: that deletes every ModelDeployment with it.
            "annotations": {"helm.sh/resource-policy": "keep"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["modeldeploy"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": resource_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }
