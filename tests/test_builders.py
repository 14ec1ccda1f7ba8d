"""Pure builders: golden output, official-schema validity, and the promises they keep."""

from __future__ import annotations

import hashlib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import (
    BuildOptions, SecretRevisions, api_key_from_secret, api_key_headers, build_all, build_deployment,
    render_model_config, secret_revision,
)
from modeldeploy.yamlio import dump
from support.golden import check_golden
from support.pod_security import restricted_violations
from support.specs import minimal, with_

from conftest import EXAMPLES

pytestmark = pytest.mark.unit

KUBERNETES_VERSION = "1.33"


def _md(doc: dict):
    return parse_model_deployment(doc)


def _example(path: Path):
    return _md(yaml.safe_load(path.read_text()))


def _by_kind(objects: list[dict]) -> dict[str, dict]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_golden_manifests(example: Path, update_golden: bool) -> None:
    md = _example(example)
    for obj in build_all(md):
        check_golden(f"{example.stem}/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml", dump(obj), update_golden)
    check_golden(f"{example.stem}/config.pbtxt", render_model_config(md), update_golden)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_object_passes_strict_official_schema(example: Path) -> None:
    for obj in build_all(_example(example)):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_config_pbtxt_parses_with_tritons_own_proto(example: Path) -> None:
    md = _example(example)
    config = text_format.Parse(render_model_config(md), model_config_pb2.ModelConfig())
    assert config.name == md.model_name
    declared = md.spec.model.config
    assert [i.name for i in config.input] == [t.name for t in declared.inputs]
    assert config.max_batch_size == declared.max_batch_size


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_pods_meet_the_restricted_profile(example: Path) -> None:
    pod = build_deployment(_example(example))["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["automountServiceAccountToken"] is False


def test_builders_are_deterministic() -> None:
    md = _example(EXAMPLES[0])
    assert build_all(md) == build_all(_example(EXAMPLES[0]))


def test_children_have_stable_names_labels_and_namespace() -> None:
    objects = _by_kind(build_all(_md(minimal())))
    assert set(objects) == {"ConfigMap/demo-v1-config", "Deployment/demo-v1", "Service/demo", "Service/demo-metrics",
                            "PodDisruptionBudget/demo", "NetworkPolicy/demo"}
    for obj in objects.values():
        assert obj["metadata"]["namespace"] == "team-a"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modeldeploy"
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
        assert "generateName" not in obj["metadata"]


def test_service_selects_every_revision_and_deployment_only_its_own() -> None:
    v1 = _by_kind(build_all(_md(minimal())))
    v2 = _by_kind(build_all(_md(with_(("spec.model.version", "2")))))
    service_selector = v1["Service/demo"]["spec"]["selector"]
    assert v1["Service/demo"] == v2["Service/demo"]
    for objects, name in ((v1, "demo-v1"), (v2, "demo-v2")):
        deployment = objects[f"Deployment/{name}"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service_selector.items() <= pod_labels.items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert v1["Deployment/demo-v1"]["spec"]["selector"] != v2["Deployment/demo-v2"]["spec"]["selector"]


def _triton(md_doc: dict) -> dict:
    return build_deployment(_md(md_doc))["spec"]["template"]["spec"]["containers"][0]


def test_triton_runs_with_secure_defaults() -> None:
    triton = _triton(minimal())
    args = triton["args"]
    for expected in ("--model-control-mode=none", "--strict-readiness=true", "--exit-on-error=true",
                     "--model-repository=/mnt/models"):
        assert expected in args
    # Triton's latency summaries cost every request CPU: only a p99 threshold, their one reader, turns them on.
    assert not [a for a in args if a.startswith("--metrics-config")]
    judged = minimal()
    judged["spec"]["rollout"] = {"analysis": {"maxP99Latency": "250ms"}}
    assert "--metrics-config=summary_latencies=true" in _triton(judged)["args"]
    # Without spec.auth nothing but the admin APIs is locked, and that lock is added by the wrapper.
    assert not [a for a in args if "restricted" in a]
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/models/demo/versions/1/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    mounts = {m["mountPath"]: m for m in triton["volumeMounts"]}
    assert mounts["/mnt/models"]["readOnly"] is True


def test_grace_period_outlasts_drain() -> None:
    options = BuildOptions()
    pod = build_deployment(_md(minimal()), options)["spec"]["template"]["spec"]
    drain = options.prestop_sleep_seconds + options.triton_exit_timeout_seconds
    assert pod["terminationGracePeriodSeconds"] > drain
    assert f"--exit-timeout-secs={options.triton_exit_timeout_seconds}" in pod["containers"][0]["args"]


def test_auto_complete_only_without_declared_config() -> None:
    assert "--disable-auto-complete-config" not in _triton(minimal())["args"]
    declared = with_(("spec.model.config", {"inputs": [{"name": "x", "dataType": "FP32", "dims": [4]}]}))
    assert "--disable-auto-complete-config" in _triton(declared)["args"]


def test_a_revision_deployment_never_surges_beyond_what_the_rollout_asks() -> None:
    """The rollout splits the GPU budget among revisions; a revision's own Deployment never adds a pod."""
    surge = build_deployment(_md(minimal()))["spec"]["strategy"]["rollingUpdate"]
    assert surge == {"maxSurge": 0, "maxUnavailable": 1}


def test_what_pods_serve_names_the_revision() -> None:
    from modeldeploy.builders import template_hash

    base = template_hash(_md(minimal()))
    for edit in (("spec.model.version", "2"), ("spec.model.uri", "s3://models/demo/other.onnx"),
                 ("spec.runtime.image", "nvcr.io/nvidia/tritonserver:24.11-py3"),
                 ("spec.runtime.env", [{"name": "X", "value": "1"}]),
                 ("spec.runtime.resources", {"cpu": "3"}), ("spec.model.config", {"maxBatchSize": 8})):
        assert template_hash(_md(with_(edit))) != base, edit
    for edit in (("spec.replicas", 5), ("spec.rollout", {"maxSurge": 2}),
                 ("spec.networkPolicy", {"allowedNamespaces": ["web"]}),
                 ("spec.autoscaling", {"maxReplicas": 4, "target": "50ms"})):
        assert template_hash(_md(with_(edit))) == base, edit


def test_every_pod_waits_for_the_smoke_inference_unless_turned_off() -> None:
    pod = build_deployment(_md(minimal()))["spec"]["template"]["spec"]
    assert pod["readinessGates"] == [{"conditionType": "serving.modeldeploy.io/smoke"}]
    off = build_deployment(_md(with_(("spec.rollout", {"analysis": {"smokeTest": False}}))))
    assert "readinessGates" not in off["spec"]["template"]["spec"]


def test_whole_gpus_and_product_selection() -> None:
    doc = with_(("spec.runtime", {"resources": {"gpus": 2, "gpuProduct": "NVIDIA-H100-80GB-HBM3"}}))
    pod = build_deployment(_md(doc))["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "2" == resources["requests"]["nvidia.com/gpu"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_mig_slice_uses_the_mig_resource() -> None:
    doc = with_(("spec.runtime", {"resources": {"migProfile": "1g.10gb"}}))
    limits = _triton(doc)["resources"]["limits"]
    assert limits["nvidia.com/mig-1g.10gb"] == "1" and "nvidia.com/gpu" not in limits


def test_cpu_model_requests_no_gpu_and_no_gpu_toleration() -> None:
    pod = build_deployment(_md(minimal()))["spec"]["template"]["spec"]
    assert not any(k.startswith("nvidia.com/") for k in pod["containers"][0]["resources"]["limits"])
    assert "tolerations" not in pod


def test_pvc_source_is_mounted_read_only_into_fetch() -> None:
    doc = with_(("spec.model.uri", "pvc://model-store/resnet/3/model.onnx"))
    pod = build_deployment(_md(doc))["spec"]["template"]["spec"]
    fetch = pod["initContainers"][0]
    assert fetch["args"][:2] == ["fetch", "file:///mnt/pvc/resnet/3/model.onnx"]
    assert {"name": "model-source", "mountPath": "/mnt/pvc", "readOnly": True} in fetch["volumeMounts"]
    assert {"name": "model-source", "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True}} \
        in pod["volumes"]


STORAGE = {"endpoint": "https://minio.storage:9000", "region": "eu-west-1", "pathStyle": True,
           "credentialsSecret": "s3-creds", "caBundle": {"configMap": "corp-ca", "key": "bundle.pem"},
           "proxy": {"url": "http://proxy.corp:3128", "noProxy": [".svc", "10.0.0.0/8"]}}


def test_storage_settings_reach_only_the_fetch_container() -> None:
    doc = with_(("spec.model.uri", "s3://models/ensemble/"), ("spec.model.storage", STORAGE))
    pod = build_deployment(_md(doc))["spec"]["template"]["spec"]
    fetch, build_repo = pod["initContainers"]
    triton = pod["containers"][0]
    assert fetch["args"] == ["fetch", "s3://models/ensemble/", "/mnt/models/.staging/demo",
                             "--endpoint", "https://minio.storage:9000", "--region", "eu-west-1", "--path-style",
                             "--ca-bundle", "/var/run/modeldeploy/storage-ca/bundle.pem"]
    assert {"name": "storage-credentials", "mountPath": "/var/run/secrets/modeldeploy/storage", "readOnly": True} \
        in fetch["volumeMounts"]
    assert {"name": "storage-ca", "mountPath": "/var/run/modeldeploy/storage-ca", "readOnly": True} \
        in fetch["volumeMounts"]
    assert fetch["env"] == [
        {"name": "MODELDEPLOY_CREDENTIALS_DIR", "value": "/var/run/secrets/modeldeploy/storage"},
        {"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"},
        {"name": "HTTP_PROXY", "value": "http://proxy.corp:3128"},
        {"name": "NO_PROXY", "value": ".svc,10.0.0.0/8"},
    ]
    assert {"name": "storage-credentials", "secret": {"secretName": "s3-creds", "defaultMode": 0o440}} \
        in pod["volumes"]
    assert {"name": "storage-ca", "configMap": {"name": "corp-ca", "items": [
        {"key": "bundle.pem", "path": "bundle.pem"}]}} in pod["volumes"]
    for other in (build_repo, triton):
        assert not {m["name"] for m in other["volumeMounts"]} & {"storage-credentials", "storage-ca"}
        assert "env" not in other or not any("PROXY" in e["name"] for e in other["env"])


def test_runtime_env_stays_with_triton() -> None:
    doc = with_(("spec.runtime", {"env": [{"name": "OMP_NUM_THREADS", "value": "4"}]}),
                ("spec.model.storage", {"credentialsSecret": "s3-creds"}))
    pod = build_deployment(_md(doc))["spec"]["template"]["spec"]
    assert pod["containers"][0]["env"] == [{"name": "OMP_NUM_THREADS", "value": "4"}]
    assert all(e["name"] != "OMP_NUM_THREADS" for e in pod["initContainers"][0]["env"])


def test_folder_digest_is_passed_to_fetch() -> None:
    doc = with_(("spec.model.uri", "s3://models/ensemble/"), ("spec.model.treeSha256", "b" * 64))
    fetch = build_deployment(_md(doc))["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["args"][-2:] == ["--tree-sha256", "b" * 64]


def test_the_admin_key_is_made_inside_the_container_and_written_nowhere() -> None:
    deployment = build_deployment(_md(with_(("spec.auth", {"apiKeySecret": "demo-key"}))))
    triton = deployment["spec"]["template"]["spec"]["containers"][0]
    command = triton["command"]
    assert command[:2] == ["/bin/sh", "-c"] and command[3] == "tritonserver"
    script = command[2]
    assert "/dev/urandom" in script and 'exec tritonserver "$@"' in script
    assert "--http-restricted-api=model-repository,shared-memory,logging,trace:triton-admin-key=$key" in script
    assert "--grpc-restricted-protocol=model-repository,shared-memory,logging,trace:triton-admin-key=$key" in script
    assert "$(" not in script, "the kubelet would try to expand it"
    text = dump(deployment)
    assert "metadata.uid" not in text and "fieldRef" not in text, "nothing about the pod may derive the key"
    assert not any("admin" in e["name"].lower() for e in triton["env"])


def test_api_key_comes_from_the_secret_through_kubelet_expansion() -> None:
    triton = _triton(with_(("spec.auth", {"apiKeySecret": "demo-key"})))
    assert {"name": "MODELDEPLOY_API_KEY", "valueFrom": {"secretKeyRef": {"name": "demo-key", "key": "api-key"}}} \
        in triton["env"]
    locked = [a for a in triton["args"] if "restricted" in a]
    assert locked == [
        "--http-restricted-api=inference,metadata,model-config,statistics:x-api-key=$(MODELDEPLOY_API_KEY)",
        "--grpc-restricted-protocol=inference,metadata,model-config,statistics:x-api-key=$(MODELDEPLOY_API_KEY)",
    ]
    # Probes use the health API, which stays open.
    assert triton["readinessProbe"]["httpGet"]["path"].endswith("/ready")


def test_a_new_api_key_rolls_the_pods_without_revealing_it() -> None:
    md = _md(with_(("spec.auth", {"apiKeySecret": "demo-key"})))
    secret = {"metadata": {"uid": "5d0c6a3e-1b7f-4c8e-9a51-2f1e0c3b7d66"}, "data": {"api-key": "aHVudGVyMg=="}}
    rotated = {**secret, "data": {"api-key": "Y29ycmVjdC1ob3JzZQ=="}}
    key = "serving.modeldeploy.io/api-key-revision"

    def annotations(revision: str | None) -> dict:
        return build_deployment(md, secrets=SecretRevisions(api_key=revision))["spec"]["template"]["metadata"][
            "annotations"]

    before, after = secret_revision(secret), secret_revision(rotated)
    assert before and after and before != after
    assert secret_revision(secret) == before, "the same value must not roll the pods"
    assert annotations(before)[key] == before != annotations(after)[key]
    assert key not in annotations(None), "offline render knows no Secret"
    assert hashlib.sha256(b"hunter2").hexdigest()[:32] != before and "hunter2" not in dump(
        build_deployment(md, secrets=SecretRevisions(api_key=before)))


def test_sha256_is_passed_to_fetch() -> None:
    digest = "a" * 64
    fetch = build_deployment(_md(with_(("spec.model.sha256", digest))))["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["args"][-2:] == ["--sha256", digest]


def test_config_change_rolls_pods_through_the_template_hash() -> None:
    a = build_deployment(_md(with_(("spec.model.config", {"maxBatchSize": 4}))))
    b = build_deployment(_md(with_(("spec.model.config", {"maxBatchSize": 8}))))
    key = "serving.modeldeploy.io/config-sha256"
    assert a["spec"]["template"]["metadata"]["annotations"][key] != b["spec"]["template"]["metadata"]["annotations"][key]


def test_autoscaled_replicas_stay_within_bounds() -> None:
    doc = with_(("spec.replicas", 1), ("spec.autoscaling", {"minReplicas": 2, "maxReplicas": 4, "target": "50ms"}))
    assert build_deployment(_md(doc))["spec"]["replicas"] == 2


def test_network_policy_keeps_metrics_for_the_monitoring_namespace() -> None:
    doc = with_(("spec.networkPolicy", {"allowedNamespaces": ["web"], "metricsNamespace": "observability"}))
    policy = _by_kind(build_all(_md(doc)))["NetworkPolicy/demo"]
    inference, metrics = policy["spec"]["ingress"]
    assert [p["port"] for p in inference["ports"]] == [8000, 8001]
    assert {"podSelector": {}} in inference["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}}} in inference["from"]
    operator = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"serving.modeldeploy.io/operator": "true"}}}
    assert metrics == {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}},
                                operator], "ports": [{"protocol": "TCP", "port": 8002}]}
    assert operator in inference["from"], "the operator smoke-tests new pods"
    disabled = build_all(_md(with_(("spec.networkPolicy", {"enabled": False}))))
    assert not any(o["kind"] == "NetworkPolicy" for o in disabled)


def test_metrics_port_is_not_on_the_inference_service() -> None:
    objects = _by_kind(build_all(_md(minimal())))
    assert [p["port"] for p in objects["Service/demo"]["spec"]["ports"]] == [8000, 8001]
    assert [p["port"] for p in objects["Service/demo-metrics"]["spec"]["ports"]] == [8002]


def test_the_operator_reads_the_key_it_must_send_from_the_secret() -> None:
    secret = {"metadata": {"uid": "u"}, "data": {"api-key": "czNjcjN0Cg=="}}  # "s3cr3t\n"
    assert api_key_from_secret(secret) == "s3cr3t"
    assert api_key_headers("s3cr3t", "http") == {"x-api-key": "s3cr3t"}
    assert api_key_headers("s3cr3t", "grpc") == {"triton-grpc-protocol-x-api-key": "s3cr3t"}
    assert api_key_headers(None) == {} and api_key_from_secret({"data": {}}) is None
    assert api_key_from_secret({"data": {"api-key": "not base64!"}}) is None
