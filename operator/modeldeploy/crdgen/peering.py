"""kopf's peering CRDs, which HA (one active operator replica) needs.

Same schema as kopf's own peering.yaml: the status holds each replica's
record, free-form, so it preserves unknown fields.
"""

from __future__ import annotations

from typing import Any

from .crd import CRD_LABELS

PEERING_GROUP = "kopf.dev"


def _peering_crd(kind: str, scope: str) -> dict[str, Any]:
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{PEERING_GROUP}", "labels": CRD_LABELS,
                     "annotations": {"helm.sh/resource-policy": "keep"}},
        "spec": {
            "group": PEERING_GROUP,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }},
            }],
        },
    }


def build_peering_crds() -> list[dict[str, Any]]:
    return [_peering_crd("ClusterKopfPeering", "Cluster"), _peering_crd("KopfPeering", "Namespaced")]
