"""Deterministic names and labels of everything a ModelDeployment produces."""

from __future__ import annotations

from ..api import GROUP, ModelDeployment

MANAGED_BY = "modeldeploy"
MODELDEPLOYMENT_LABEL = f"{GROUP}/modeldeployment"
REVISION_LABEL = f"{GROUP}/revision"
METRICS_LABEL = f"{GROUP}/metrics"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-sha256"
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
    return f"v{version}"


def deployment_name(md: ModelDeployment, version: str) -> str:
    return f"{md.name}-{revision(version)}"


def config_map_name(md: ModelDeployment, version: str) -> str:
    return f"{deployment_name(md, version)}-config"


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


def revision_selector(md: ModelDeployment, version: str) -> dict[str, str]:
    return {**selector_labels(md), REVISION_LABEL: revision(version)}


def revision_labels(md: ModelDeployment, version: str) -> dict[str, str]:
    return {**common_labels(md), REVISION_LABEL: revision(version), "app.kubernetes.io/version": version}


def metadata(md: ModelDeployment, name: str, labels: dict[str, str]) -> dict:
    return {"name": name, "namespace": md.namespace, "labels": dict(labels)}
