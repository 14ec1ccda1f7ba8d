"""The operator, unchanged, serving real inferences through the loopback cluster.

examples/quickstart.yaml is applied as a user would; the operator (its real
process) makes the Deployment and Services; the harness's controllers run the
pods: the real fetch and build-repo commands, then the real tritonserver; the
inferences go through the Service's address over HTTP and gRPC. Only the API
server and the scheduler's GPU count are not real.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
import yaml

from conftest import REPO
from support.cluster import infer
from support.cluster.objects import condition

pytestmark = pytest.mark.harness

QUICKSTART = REPO / "examples" / "quickstart.yaml"
INPUTS = {"INPUT__0": np.random.default_rng(7).standard_normal((2, 16)).astype(np.float32)}
OUTPUTS = ["OUTPUT__0"]


@pytest.fixture(scope="module")
def expected(runtime_image_root: Path) -> np.ndarray:
    """What the model itself computes for INPUTS (the TorchScript file the runtime image carries)."""
    model = torch.jit.load(str(runtime_image_root / "models/quickstart/model.pt"))
    with torch.inference_mode():
        return model(torch.from_numpy(INPUTS["INPUT__0"])).numpy()


def first_inference(address: str, protocol: str, timeout: float = 30.0) -> tuple[str, dict[str, np.ndarray]]:
    """Retry until the Service answers: its endpoints follow pod readiness after kube-proxy's delay."""
    deadline = time.monotonic() + timeout
    while True:
        client = triton_grpc.InferenceServerClient(address) if protocol == "grpc" else \
            triton_http.InferenceServerClient(address, connection_timeout=5, network_timeout=5)
        try:
            return infer(client, protocol, "quickstart", INPUTS, OUTPUTS)
        except Exception:  # noqa: BLE001 - refused until the endpoints are there
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            client.close()


def ready_replicas(cluster) -> int:
    md = cluster.md("quickstart")
    status = md.get("status") or {}
    return status.get("readyReplicas", 0) if status.get("observedGeneration") == md["metadata"]["generation"] else -1


def test_quickstart_goes_from_apply_to_inference_through_its_service(cluster, expected, record_property):
    applied = time.monotonic()
    cluster.apply_file(QUICKSTART)
    md = cluster.wait_for_condition("quickstart", "Ready", timeout=120)
    version, outputs = first_inference(cluster.service_address("quickstart", "http"), "http")
    seconds = time.monotonic() - applied
    record_property("apply_to_first_inference_seconds", round(seconds, 1))
    print(f"apply → first inference through the Service: {seconds:.1f}s")
    np.testing.assert_allclose(outputs["OUTPUT__0"], expected, rtol=1e-5, atol=1e-6)
    assert version == "1"
    version, outputs = first_inference(cluster.service_address("quickstart", "grpc"), "grpc")
    np.testing.assert_allclose(outputs["OUTPUT__0"], expected, rtol=1e-5, atol=1e-6)
    assert md["status"]["readyReplicas"] == 1 and md["status"]["traffic"] == "v1=100"
    (pod,) = cluster.pods()
    assert pod.ready and pod.revision == "v1" and pod.ip.startswith(f"127.{cluster.addresses.octet}.")
    fetch_log = cluster.logs(pod.name, "fetch")
    assert "fetched" in fetch_log or "present" in fetch_log, fetch_log


def test_scale_1_3_1_under_load_loses_no_request(cluster, expected):
    cluster.apply_file(QUICKSTART)
    cluster.wait_for_condition("quickstart", "Ready", timeout=120)
    cluster.scale("quickstart", 3)
    cluster.wait(lambda: ready_replicas(cluster) == 3, timeout=120, what="3 ready replicas")
    assert [p.ready for p in cluster.pods()] == [True] * 3
    assert cluster.api.get("/apis/apps/v1/namespaces/default/deployments/quickstart-v1")["spec"]["replicas"] == 3

    def answers_right(outputs: dict[str, np.ndarray]) -> bool:
        return np.allclose(outputs["OUTPUT__0"], expected, rtol=1e-5, atol=1e-6)
    first_inference(cluster.service_address("quickstart", "http"), "http")  # endpoints programmed
    http = cluster.load(cluster.service_address("quickstart", "http"), "quickstart", INPUTS, OUTPUTS,
                        concurrency=2, check=answers_right)
    grpc = cluster.load(cluster.service_address("quickstart", "grpc"), "quickstart", INPUTS, OUTPUTS,
                        protocol="grpc", concurrency=1, check=answers_right)
    with http, grpc:
        http.wait_for(60)
        grpc.wait_for(30)
        before = {p.name: p.ip for p in cluster.pods()}
        scaled_at = time.time()
        cluster.scale("quickstart", 1)
        cluster.wait(lambda: len(cluster.pods()) == 1 and ready_replicas(cluster) == 1, timeout=120,
                     what="back to one pod")
        http.wait_for(http.report.successes + 20)
    for load in (http, grpc):
        report = load.report
        assert report.failures == 0, report.errors
        assert report.wrong == 0 and report.by_version == {"1": report.successes}
    (survivor,) = cluster.pods()
    removed = [ip for name, ip in before.items() if name != survivor.name]
    # The race was run: the removed pods were still sent connections after they were told to stop.
    traffic = cluster.forwarder("quickstart", "http").last_connection
    assert all(traffic.get((ip, 8000), 0) > scaled_at for ip in removed), (traffic, removed, scaled_at)
    assert condition(cluster.md("quickstart"), "Ready")["status"] == "True"


def test_a_model_that_cannot_be_fetched_ends_in_model_fetch_failed(cluster):
    md = yaml.safe_load(QUICKSTART.read_text())
    md["spec"]["model"]["uri"] = "file:models/not-in-the-image"
    cluster.apply(md)
    found = cluster.wait_for_condition("quickstart", "Ready", "False", reason="ModelFetchFailed", timeout=60)
    message = condition(found, "Ready")["message"]
    assert "fetch failed" in message and "not-in-the-image" in message, message
    assert condition(found, "Degraded")["reason"] == "ModelFetchFailed"
    (pod,) = cluster.pods()
    assert pod.status.startswith("Init:") and pod.phase == "Pending"


def test_a_model_asking_for_more_gpus_than_the_node_has_is_unschedulable(cluster):
    md = yaml.safe_load(QUICKSTART.read_text())
    md["spec"]["runtime"]["resources"]["gpus"] = cluster.settings.gpus + 1
    cluster.apply(md)
    found = cluster.wait_for_condition("quickstart", "Ready", "False", reason="Unschedulable", timeout=60)
    assert "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." in condition(found, "Ready")["message"]
    (pod,) = cluster.pods()
    assert pod.phase == "Pending" and pod.ip is None


def test_a_shell_wrapped_triton_container_runs_as_declared(make_cluster, runtime_image_root, expected):
    """The builders' manifests, applied without the operator: Triton behind the `/bin/sh -c` wrapper that
    makes its own admin key and execs tritonserver; the harness runs the command as declared."""
    from modeldeploy.api import parse_model_deployment
    from modeldeploy.builders import build_all

    cluster = make_cluster(runtime_image_root=runtime_image_root, operator=False)
    doc = yaml.safe_load(QUICKSTART.read_text())
    doc["spec"]["rollout"] = {"analysis": {"smokeTest": False}}  # no operator here to pass the smoke gate
    objects = build_all(parse_model_deployment(doc))
    triton = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert triton["command"][:2] == ["/bin/sh", "-c"]
    for obj in objects:
        cluster.apply(obj)
    cluster.wait(lambda: [p.ready for p in cluster.pods()] == [True], timeout=60, what="the pod ready")
    (pod,) = cluster.pods()
    version, outputs = first_inference(f"{pod.ip}:8000", "http")
    np.testing.assert_allclose(outputs["OUTPUT__0"], expected, rtol=1e-5, atol=1e-6)
    worker = cluster.kubelet.worker("default", pod.name)
    cmdline = " ".join(psutil.Process(worker.apps[0]._process.pid).cmdline())
    assert "bin/tritonserver" in cmdline and "/bin/sh" not in cmdline, "the shell exec'd the server"
    assert "$key" not in cmdline and "$(" not in cmdline, "the wrapper's key reached Triton expanded"
