"""The inference Service (HTTP, gRPC) and the separate metrics Service."""

from __future__ import annotations

from ..api import ModelDeployment
from . import naming as n


INFERENCE_PORTS = (
    {"name": "http", "port": n.HTTP_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
    {"name": "grpc", "port": n.GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
)


def build_service(md: ModelDeployment, rev: str | None = None) -> dict:
    """The inference Service. Without `rev` it selects every revision's pods, so traffic follows the pods'
    split (a canary by replica count); with `rev` (BlueGreen) only that revision's, switched in one write."""
    return _inference_service(md, n.service_name(md), n.revision_selector(md, rev) if rev else n.selector_labels(md))


def build_preview_service(md: ModelDeployment, rev: str) -> dict:
    """BlueGreen: the revision being previewed (or the active one, between rollouts)."""
    return _inference_service(md, n.preview_service_name(md), n.revision_selector(md, rev))


def build_revision_service(md: ModelDeployment, rev: str) -> dict:
    """One revision's pods alone: the backends an HTTPRoute weighs exactly."""
    return _inference_service(md, n.revision_service_name(md, rev), n.revision_selector(md, rev))


def _inference_service(md: ModelDeployment, name: str, selector: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": n.metadata(md, name, n.common_labels(md)),
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [dict(p) for p in INFERENCE_PORTS]},
    }


def build_http_route(md: ModelDeployment, weights: dict[str, int]) -> dict | None:
    """Gateway API: the model's traffic split exactly by weight over the revisions' Services."""
    routing = md.spec.rollout.traffic_routing
    if routing is None or routing.gateway_api is None:
        return None
    gateway = routing.gateway_api
    backends = [{"name": n.revision_service_name(md, rev), "port": n.HTTP_PORT, "weight": weight}
                for rev, weight in sorted(weights.items())]
    spec: dict = {
        "parentRefs": [ref.to_wire() for ref in gateway.parent_refs],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": backends}],
    }
    if gateway.hostnames:
        spec["hostnames"] = list(gateway.hostnames)
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": n.metadata(md, n.service_name(md), n.common_labels(md)),
        "spec": spec,
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
