"""The pod's init containers: `fetch` (with everything needed to reach the store) and `build-repo`.

Storage settings, credentials, CA bundle and proxy reach the fetch container
alone: Triton never mounts the credentials nor sees the proxy.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..api import ModelDeployment, StorageSpec
from . import naming as n
from .options import BuildOptions
from .security import container_security_context, pull_policy


def init_containers(md: ModelDeployment, options: BuildOptions) -> list[dict]:
    model = md.spec.model
    staging = f"{n.STAGING_DIR}/{md.model_name}"
    fetch_mounts = [{"name": "model-repository", "mountPath": n.MODEL_REPOSITORY}]
    storage = model.storage or StorageSpec()
    if storage.credentials_secret:
        fetch_mounts.append({"name": "storage-credentials", "mountPath": n.CREDENTIALS_DIR, "readOnly": True})
    if storage.ca_bundle:
        fetch_mounts.append({"name": "storage-ca", "mountPath": n.CA_BUNDLE_DIR, "readOnly": True})
    if urlsplit(model.uri).scheme == "pvc":
        fetch_mounts.append({"name": "model-source", "mountPath": n.PVC_MOUNT, "readOnly": True})
    build_args = [
        "build-repo", "--source", staging, "--repository", n.MODEL_REPOSITORY,
        "--model", md.model_name, "--version", model.version, "--format", model.format,
        "--config", f"{n.CONFIG_DIR}/config.pbtxt",
    ]
    build_mounts = [
        {"name": "model-repository", "mountPath": n.MODEL_REPOSITORY},
        {"name": "model-config", "mountPath": n.CONFIG_DIR, "readOnly": True},
    ]
    return [
        _runtime_container("fetch", ["fetch", fetch_source(md), staging, *fetch_flags(md)], fetch_mounts,
                           _fetch_env(storage), options),
        _runtime_container("build-repo", build_args, build_mounts, [], options),
    ]


def init_volumes(md: ModelDeployment) -> list[dict]:
    """The volumes only the init containers mount."""
    model = md.spec.model
    storage = model.storage or StorageSpec()
    volumes = []
    if storage.credentials_secret:
        volumes.append({"name": "storage-credentials",
                        "secret": {"secretName": storage.credentials_secret, "defaultMode": 0o440}})
    if storage.ca_bundle:
        volumes.append({"name": "storage-ca", "configMap": {"name": storage.ca_bundle.config_map, "items": [
            {"key": storage.ca_bundle.key, "path": storage.ca_bundle.key}]}})
    parts = urlsplit(model.uri)
    if parts.scheme == "pvc":
        volumes.append({"name": "model-source",
                        "persistentVolumeClaim": {"claimName": parts.netloc, "readOnly": True}})
    return volumes


def fetch_source(md: ModelDeployment) -> str:
    """The URI as the fetch container sees it: a PVC becomes a read-only mounted path."""
    uri = md.spec.model.uri
    parts = urlsplit(uri)
    if parts.scheme == "pvc":
        return f"file://{n.PVC_MOUNT}{parts.path}"
    return uri


def fetch_flags(md: ModelDeployment) -> list[str]:
    """`modeldeploy fetch` flags from spec.model: digests and how to reach the store."""
    model = md.spec.model
    storage = model.storage or StorageSpec()
    flags = []
    if model.sha256:
        flags += ["--sha256", model.sha256]
    if model.tree_sha256:
        flags += ["--tree-sha256", model.tree_sha256]
    if storage.endpoint:
        flags += ["--endpoint", storage.endpoint]
    if storage.region:
        flags += ["--region", storage.region]
    if storage.path_style:
        flags.append("--path-style")
    if storage.ca_bundle:
        flags += ["--ca-bundle", f"{n.CA_BUNDLE_DIR}/{storage.ca_bundle.key}"]
    return flags


def _fetch_env(storage: StorageSpec) -> list[dict]:
    env = []
    if storage.credentials_secret:
        env.append({"name": "MODELDEPLOY_CREDENTIALS_DIR", "value": n.CREDENTIALS_DIR})
    if storage.proxy:
        env += [{"name": "HTTPS_PROXY", "value": storage.proxy.url}, {"name": "HTTP_PROXY", "value": storage.proxy.url}]
        if storage.proxy.no_proxy:
            env.append({"name": "NO_PROXY", "value": ",".join(storage.proxy.no_proxy)})
    return env


def _runtime_container(name: str, args: list[str], mounts: list[dict], env: list[dict],
                       options: BuildOptions) -> dict:
    container = {
        "name": name,
        "image": options.runtime_image,
        "imagePullPolicy": pull_policy(options.runtime_image),
        "args": args,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": container_security_context(),
        # The fetch's one-line reason lands in the pod status for the operator to surface.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts + [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if env:
        container["env"] = env
    return container
