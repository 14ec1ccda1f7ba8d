"""The Deployment of one model revision: fetch init containers, then Triton."""

from __future__ import annotations

import hashlib
import json

from ..api import API_KEY_ENV, API_KEY_SECRET_KEY, ModelDeployment
from . import naming as n
from .admin_key import triton_command
from .init_containers import init_containers, init_volumes
from .inputs import SecretRevisions
from .options import BuildOptions
from .security import container_security_context, pod_security_context, pull_policy
from .triton_args import triton_server_args
from .triton_config import render_model_config

# Parts of the spec that do not change what pods serve: a change there is no new revision.
NOT_SERVING_FIELDS = ("replicas", "autoscaling", "rollout", "networkPolicy")
TEMPLATE_PLACEHOLDER = "revision"


def build_deployment(md: ModelDeployment, options: BuildOptions = BuildOptions(),
                     secrets: SecretRevisions = SecretRevisions(), *, rev: str | None = None,
                     replicas: int | None = None, number: int = 1, smoke_gate: bool | None = None) -> dict:
    """The Deployment of one revision: `rev` names it ("v3"), `replicas` is its share of the total.

    `smoke_gate` overrides spec.rollout.analysis.smokeTest for the pods' readiness gate: a revision that
    exists keeps the gate it was made with (a toggle of the setting is no reason to roll its pods)."""
    rev = rev or n.default_revision(md)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {**n.metadata(md, n.deployment_name(md, rev), n.revision_labels(md, rev)), "annotations": {
            n.TEMPLATE_HASH_ANNOTATION: template_hash(md, options, secrets),
            n.REVISION_NUMBER_ANNOTATION: str(number),
            n.REVISION_SPEC_ANNOTATION: revision_spec(md),
        }},
        "spec": {
            "replicas": desired_replicas(md) if replicas is None else replicas,
            "revisionHistoryLimit": 0,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": n.revision_selector(md, rev)},
            # A revision's template never changes (a change is a new revision), and the rollout sets its
            # replicas within the GPU budget: the Deployment itself never surges.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": _pod_template(md, options, secrets, rev,
                                      md.spec.rollout.analysis.smoke_test if smoke_gate is None else smoke_gate),
        },
    }


def template_hash(md: ModelDeployment, options: BuildOptions = BuildOptions(),
                  secrets: SecretRevisions = SecretRevisions()) -> str:
    """Names what the pods serve: any change to it (model, config, image, resources, env, key) is a revision.

    The smoke gate is a rollout setting, not what pods serve: the hash is of the gated form whatever
    spec.rollout.analysis.smokeTest says, so turning the smoke test off or on makes no new revision."""
    template = _pod_template(md, options, secrets, TEMPLATE_PLACEHOLDER, smoke_gate=True)
    return hashlib.sha256(json.dumps(template, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def revision_spec(md: ModelDeployment) -> str:
    """The spec a revision serves, as `modeldeploy rollout undo` writes it back."""
    spec = {k: v for k, v in md.spec.to_wire().items() if k not in NOT_SERVING_FIELDS}
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _pod_template(md: ModelDeployment, options: BuildOptions, secrets: SecretRevisions, rev: str,
                  smoke_gate: bool) -> dict:
    config_text = render_model_config(md)
    pod_spec: dict = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": options.triton_exit_timeout_seconds + options.prestop_sleep_seconds + 20,
        "initContainers": init_containers(md, options),
        "containers": [_triton_container(md, options)],
        "volumes": _volumes(md, options, rev),
    }
    if smoke_gate:
        # Ready only once the operator's smoke inference passed on this very pod: no traffic before.
        pod_spec["readinessGates"] = [{"conditionType": n.SMOKE_CONDITION}]
    _add_scheduling(pod_spec, md)
    return {
        "metadata": {"labels": n.revision_labels(md, rev),
                     "annotations": _template_annotations(md, config_text, secrets)},
        "spec": pod_spec,
    }


def desired_replicas(md: ModelDeployment) -> int:
    """spec.replicas, within the autoscaling bounds when autoscaling is set."""
    replicas = md.spec.replicas
    scaling = md.spec.autoscaling
    if scaling is not None:
        replicas = min(max(replicas, scaling.min_replicas), scaling.max_replicas)
    return replicas


def _template_annotations(md: ModelDeployment, config_text: str, secrets: SecretRevisions) -> dict:
    """What must roll the pods when it changes, though no container field does: the config, the API key."""
    annotations = {n.CONFIG_HASH_ANNOTATION: hashlib.sha256(config_text.encode()).hexdigest()}
    if md.spec.auth is not None and secrets.api_key:
        annotations[n.API_KEY_REVISION_ANNOTATION] = secrets.api_key
    return annotations


def _triton_container(md: ModelDeployment, options: BuildOptions) -> dict:
    runtime = md.spec.runtime
    ready_path = f"/v2/models/{md.model_name}/versions/{md.spec.model.version}/ready"
    env = [{"name": e.name, "value": e.value} for e in runtime.env]
    api_key = None
    if md.spec.auth is not None:
        # The kubelet reads the key from the Secret and expands $(VAR) in the args: no manifest holds it.
        env.append({"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {
            "name": md.spec.auth.api_key_secret, "key": API_KEY_SECRET_KEY}}})
        api_key = f"$({API_KEY_ENV})"
    container = {
        "name": "triton",
        "image": runtime.image,
        "imagePullPolicy": pull_policy(runtime.image),
        "command": triton_command(),
        "args": triton_server_args(md, options.triton_exit_timeout_seconds, api_key=api_key),
        "ports": [
            {"name": "http", "containerPort": n.HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": n.GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": n.METRICS_PORT, "protocol": "TCP"},
        ],
        # Ready means this model version answers, not merely that the server is up.
        "readinessProbe": {"httpGet": {"path": ready_path, "port": "http"},
                           "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"},
                          "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 6},
        # Large models take minutes to load; liveness starts counting only after this.
        "startupProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"},
                         "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 120},
        # Let endpoints drop the pod before Triton stops taking requests.
        "lifecycle": {"preStop": {"sleep": {"seconds": options.prestop_sleep_seconds}}},
        "resources": _resources(md),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "model-repository", "mountPath": n.MODEL_REPOSITORY, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    if env:
        container["env"] = env
    return container


def _resources(md: ModelDeployment) -> dict:
    res = md.spec.runtime.resources
    requests: dict = {"cpu": str(res.cpu), "memory": str(res.memory)}
    limits: dict = {"memory": str(res.memory)}
    gpu = _gpu_resource(md)
    if gpu:
        requests[gpu[0]] = gpu[1]
        limits[gpu[0]] = gpu[1]
    return {"requests": requests, "limits": limits}


def _gpu_resource(md: ModelDeployment) -> tuple[str, str] | None:
    res = md.spec.runtime.resources
    if res.mig_profile:
        return f"nvidia.com/mig-{res.mig_profile}", "1"
    if res.gpus:
        return "nvidia.com/gpu", str(res.gpus)
    return None


def _add_scheduling(pod_spec: dict, md: ModelDeployment) -> None:
    runtime = md.spec.runtime
    node_selector = dict(runtime.node_selector)
    if runtime.resources.gpu_product:
        node_selector["nvidia.com/gpu.product"] = runtime.resources.gpu_product
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    tolerations = [t.to_wire() for t in runtime.tolerations]
    if _gpu_resource(md) and not any(t.get("key") == "nvidia.com/gpu" for t in tolerations):
        # GPU node pools are commonly tainted so that only GPU workloads land there.
        tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if runtime.affinity:
        pod_spec["affinity"] = runtime.affinity
    if runtime.priority_class_name:
        pod_spec["priorityClassName"] = runtime.priority_class_name
    if runtime.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in runtime.image_pull_secrets]


def _volumes(md: ModelDeployment, options: BuildOptions, rev: str) -> list[dict]:
    return [
        {"name": "model-repository", "emptyDir": {}},
        {"name": "model-config", "configMap": {"name": n.config_map_name(md, rev)}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": options.dshm_size}},
        *init_volumes(md),
    ]
