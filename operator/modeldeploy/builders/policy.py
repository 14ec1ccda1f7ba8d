"""PodDisruptionBudget and NetworkPolicy of a ModelDeployment's pods."""

from __future__ import annotations

from ..api import ModelDeployment
from . import naming as n
from .options import BuildOptions


def build_pdb(md: ModelDeployment) -> dict:
    # One pod at a time: node drains proceed, yet never take the model down at once.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": n.metadata(md, md.name, n.common_labels(md)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": n.selector_labels(md)}},
    }


def build_network_policy(md: ModelDeployment, options: BuildOptions = BuildOptions()) -> dict | None:
    policy = md.spec.network_policy
    if not policy.enabled:
        return None
    callers: list[dict] = [{"podSelector": {}}]
    callers += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        for ns in policy.allowed_namespaces
    ]
    # The operator smoke-tests new pods (inference ports) and reads their metrics (rollout analysis and
    # autoscaling), from whichever namespace it runs in.
    operator = {"namespaceSelector": {}, "podSelector": {"matchLabels": {n.OPERATOR_LABEL: "true"}}}
    callers.append(operator)
    scrapers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": policy.metrics_namespace}}},
                operator]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": n.metadata(md, md.name, n.common_labels(md)),
        "spec": {
            "podSelector": {"matchLabels": n.selector_labels(md)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": callers, "ports": [{"protocol": "TCP", "port": n.HTTP_PORT},
                                            {"protocol": "TCP", "port": n.GRPC_PORT}]},
                {"from": scrapers, "ports": [{"protocol": "TCP", "port": n.METRICS_PORT}]},
            ],
        },
    }
