"""Deterministic names and labels of everything a ModelDeployment produces."""

from __future__ import annotations

from ..api import GROUP, ModelDeployment

MANAGED_BY = "modeldeploy"
MODELDEPLOYMENT_LABEL = f"{GROUP}/modeldeployment"
REVISION_LABEL = f"{GROUP}/revision"
METRICS_LABEL = f"{GROUP}/metrics"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-sha256"
# On each revision's Deployment: what its pods serve (the hash names the revision), its number, its spec.
TEMPLATE_HASH_ANNOTATION = f"{GROUP}/template-hash"
REVISION_NUMBER_ANNOTATION = f"{GROUP}/revision-number"
REVISION_SPEC_ANNOTATION = f"{GROUP}/revision-spec"
# On the ModelDeployment: a rollout request (promote, abort, retry) written by `modeldeploy rollout`.
REQUEST_ANNOTATION = f"{GROUP}/rollout-request"
# The readiness gate a pod passes once the operator's smoke inference succeeded on it.
SMOKE_CONDITION = f"{GROUP}/smoke"


def has_smoke_gate(pod_spec: dict) -> bool:
    """Whether pods of this spec wait for the operator's smoke inference (their readiness gate) to be Ready."""
    return any(g.get("conditionType") == SMOKE_CONDITION for g in pod_spec.get("readinessGates") or [])
# Pods of the operator itself (the chart sets it): the NetworkPolicy lets them smoke-test and scrape.
OPERATOR_LABEL = f"{GROUP}/operator"
API_KEY_REVISION_ANNOTATION = f"{GROUP}/api-key-revision"

# Where things live inside the Triton pod.
MODEL_REPOSITORY = "/mnt/models"
STAGING_DIR = f"{MODEL_REPOSITORY}/.staging"
CONFIG_DIR = "/etc/modeldeploy"
CREDENTIALS_DIR = "/var/run/secrets/modeldeploy/storage"
CA_BUNDLE_DIR = "/var/run/modeldeploy/storage-ca"
PVC_MOUNT = "/mnt/pvc"
HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002


def revision(version: str) -> str:
    """The name a version's first revision gets ("v3"); later revisions of it are "v3-2", "v3-3"..."""
    return f"v{version}"


def default_revision(md: ModelDeployment) -> str:
    return revision(md.spec.model.version)


def deployment_name(md: ModelDeployment, rev: str) -> str:
    return f"{md.name}-{rev}"


def config_map_name(md: ModelDeployment, rev: str) -> str:
    return f"{deployment_name(md, rev)}-config"


def preview_service_name(md: ModelDeployment) -> str:
    return f"{md.name}-preview"


def revision_service_name(md: ModelDeployment, rev: str) -> str:
    return f"{md.name}-{rev}"


def service_name(md: ModelDeployment) -> str:
    return md.name


def metrics_service_name(md: ModelDeployment) -> str:
    return f"{md.name}-metrics"


def selector_labels(md: ModelDeployment) -> dict[str, str]:
    """Selects every pod of the ModelDeployment, whatever its revision."""
    return {"app.kubernetes.io/instance": md.name, MODELDEPLOYMENT_LABEL: md.name}


def common_labels(md: ModelDeployment) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "triton-inference-server",
        **selector_labels(md),
        "app.kubernetes.io/component": "predictor",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def revision_selector(md: ModelDeployment, rev: str) -> dict[str, str]:
    return {**selector_labels(md), REVISION_LABEL: rev}


def revision_labels(md: ModelDeployment, rev: str) -> dict[str, str]:
    return {**common_labels(md), REVISION_LABEL: rev, "app.kubernetes.io/version": md.spec.model.version}


def metadata(md: ModelDeployment, name: str, labels: dict[str, str]) -> dict:
    return {"name": name, "namespace": md.namespace, "labels": dict(labels)}
