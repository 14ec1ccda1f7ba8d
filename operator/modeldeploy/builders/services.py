"""The inference Service (HTTP, gRPC) and the separate metrics Service."""

from __future__ import annotations

from ..api import ModelDeployment
from . import naming as n


def build_service(md: ModelDeployment) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": n.metadata(md, n.service_name(md), n.common_labels(md)),
        "spec": {
            "type": "ClusterIP",
            # Every revision's pods: weighted routing comes with the rollout controller.
            "selector": n.selector_labels(md),
            "ports": [
                {"name": "http", "port": n.HTTP_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
                {"name": "grpc", "port": n.GRPC_PORT, "targetPort": "grpc", "protocol": "TCP",
                 "appProtocol": "kubernetes.io/h2c"},
            ],
        },
    }


def build_metrics_service(md: ModelDeployment) -> dict:
    # Kept apart from the inference Service so the metrics port is never exposed to callers.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": n.metadata(md, n.metrics_service_name(md), {**n.common_labels(md), n.METRICS_LABEL: "true"}),
        "spec": {
            "type": "ClusterIP",
            "selector": n.selector_labels(md),
            "ports": [{"name": "metrics", "port": n.METRICS_PORT, "targetPort": "metrics", "protocol": "TCP",
                       "appProtocol": "http"}],
        },
    }
