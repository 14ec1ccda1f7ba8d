"""The loopback harness's serving scenarios (tests/test_harness_serving.py) on a real cluster.

The quickstart model is served from the test namespace: a tarball in a
ConfigMap behind a python http.server pod, so the fetch init container
downloads it like any model. Triton runs the NGC image with torch in its
python backend (MODELDEPLOY_E2E_TRITON_IMAGE, default the 24.10
`-pyt-python-py3` tag). Inferences and load come from a pod in the
namespace (e2e/load_client.py), so they go through the Service as kube-proxy
routes them.

    MODELDEPLOY_E2E=1 MODELDEPLOY_E2E_RUNTIME_IMAGE=modeldeploy-runtime:e2e .venv/bin/python -m pytest e2e
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cluster_access import MERGE, wait_for
from conftest import IN_CLUSTER
from support.quickstart import make_quickstart

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
TRITON_IMAGE = os.environ.get("MODELDEPLOY_E2E_TRITON_IMAGE", "nvcr.io/nvidia/tritonserver:24.10-pyt-python-py3")
PYTHON_IMAGE = "python:3.11-slim"
ROW = np.random.default_rng(7).standard_normal((1, 16)).astype(np.float32)
INPUT = {"name": "INPUT__0", "shape": [1, 16], "datatype": "FP32", "data": ROW.ravel().tolist()}
SECURE = {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
          "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_quickstart(tmp_path_factory.mktemp("quickstart")).parent / "models" / "quickstart"


def paths(namespace: str) -> dict[str, str]:
    return {"mds": f"/apis/serving.modeldeploy.io/v1alpha1/namespaces/{namespace}/modeldeployments",
            "deployments": f"/apis/apps/v1/namespaces/{namespace}/deployments",
            "configmaps": f"/api/v1/namespaces/{namespace}/configmaps",
            "services": f"/api/v1/namespaces/{namespace}/services",
            "pods": f"/api/v1/namespaces/{namespace}/pods"}


def python_deployment(name: str, namespace: str, command: list[str], volume: dict, port: int | None) -> dict:
    container = {"name": name, "image": PYTHON_IMAGE, "command": command, "securityContext": SECURE,
                 "volumeMounts": [{"name": "files", "mountPath": "/srv", "readOnly": True}]}
    if port:
        container["ports"] = [{"name": "http", "containerPort": port}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 2}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [container], "volumes": [{"name": "files", **volume}]}}}}


@pytest.fixture
def model_uri(cluster, namespace, model) -> str:
    """The quickstart model as a .tar.gz on an http server pod in the namespace."""
    return serve_model(cluster, namespace, model)


def serve_model(cluster, namespace: str, model: Path) -> str:
    """A model folder as <name>.tar.gz on an http server pod in the namespace; its URI for spec.model.uri."""
    return f"{serve_files(cluster, namespace, {f'{model.name}.tar.gz': tarball(model)})}/{model.name}.tar.gz"


def tarball(model: Path, replace: dict[str, str] | None = None) -> bytes:
    """A model folder as .tar.gz bytes; `replace` gives some files other text (a model.py that fails)."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for file in sorted(model.iterdir()):
            if replace and file.name in replace:
                data = replace[file.name].encode()
                info = tarfile.TarInfo(file.name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.add(file, arcname=file.name)
    return archive.getvalue()


def serve_files(cluster, namespace: str, files: dict[str, bytes]) -> str:
    """Files on an http server pod in the namespace (from a ConfigMap); the base URL they are served at."""
    p = paths(namespace)
    cluster.create(p["configmaps"], {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "model-files", "namespace": namespace},
                                     "binaryData": {name: base64.b64encode(data).decode()
                                                    for name, data in files.items()}})
    cluster.create(p["deployments"], python_deployment(
        "model-server", namespace, ["python3", "-m", "http.server", "8080", "--directory", "/srv"],
        {"configMap": {"name": "model-files"}}, 8080))
    cluster.create(p["services"], {"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": "model-server", "namespace": namespace},
                                   "spec": {"selector": {"app": "model-server"},
                                            "ports": [{"port": 8080, "targetPort": "http"}]}})
    wait_for(lambda: (cluster.get(f"{p['deployments']}/model-server").get("status") or {}).get("readyReplicas"),
             timeout=180, what="model server ready")
    return f"http://model-server.{namespace}.svc:8080"


def quickstart(namespace: str, uri: str) -> dict:
    md = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    md["metadata"] = {"name": "quickstart", "namespace": namespace}
    md["spec"]["model"]["uri"] = uri
    md["spec"]["runtime"]["image"] = TRITON_IMAGE
    if not IN_CLUSTER:
        # An operator off the cluster cannot send the smoke inference that lets a pod take traffic.
        md["spec"]["rollout"] = {"analysis": {"smokeTest": False}}
    # Room for three replicas on a small kind node.
    md["spec"]["runtime"]["resources"] = {"cpu": "250m", "memory": "2Gi"}
    return md


def run_client(cluster, namespace: str, name: str, **env: str) -> str:
    """Start the in-cluster client pod (env: e2e/load_client.py's settings, TARGET and MODEL included to send
    elsewhere than the quickstart); its name."""
    p = paths(namespace)
    if cluster.get(f"{p['configmaps']}/load-client") is None:
        cluster.create(p["configmaps"], {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "load-client", "namespace": namespace},
                                         "data": {"load_client.py": (REPO / "e2e" / "load_client.py").read_text()}})
    environment = {"TARGET": f"quickstart.{namespace}.svc:8000", "MODEL": "quickstart", "INPUT": json.dumps(INPUT),
                   **env}
    cluster.create(p["pods"], {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                               "spec": {"restartPolicy": "Never", "containers": [{
                                   "name": "client", "image": PYTHON_IMAGE, "securityContext": SECURE,
                                   "command": ["python3", "/srv/load_client.py"],
                                   "env": [{"name": k, "value": v} for k, v in environment.items()],
                                   "volumeMounts": [{"name": "files", "mountPath": "/srv"}]}],
                                   "volumes": [{"name": "files", "configMap": {"name": "load-client"}}]}})
    return name


def last_line(cluster, namespace: str, pod: str) -> dict | None:
    try:
        lines = [line for line in cluster.logs(namespace, pod).splitlines() if line.startswith("{")]
    except Exception:  # noqa: BLE001 - not started yet
        return None
    return json.loads(lines[-1]) if lines else None


def ready_replicas(cluster, namespace: str, name: str = "quickstart") -> int:
    md = cluster.get(f"{paths(namespace)['mds']}/{name}")
    status = md.get("status") or {}
    return status.get("readyReplicas", 0) if status.get("observedGeneration") == md["metadata"]["generation"] else -1


def expected(model: Path) -> np.ndarray:
    net = torch.jit.load(str(model / "model.pt"))
    with torch.inference_mode():
        return net(torch.from_numpy(ROW)).numpy()


def test_quickstart_answers_through_its_service(cluster, namespace, operator, model_uri, model):
    p = paths(namespace)
    cluster.create(p["mds"], quickstart(namespace, model_uri))
    wait_for(lambda: ready_replicas(cluster, namespace) == 1, timeout=900, what="quickstart Ready (image pull)")
    run_client(cluster, namespace, "infer-once", DURATION="0")
    answer = wait_for(lambda: last_line(cluster, namespace, "infer-once"), timeout=120, what="an answer")
    output = np.asarray(answer["outputs"][0]["data"], dtype=np.float32).reshape(1, 4)
    np.testing.assert_allclose(output, expected(model), rtol=1e-4, atol=1e-5)
    assert answer["model_version"] == "1"


def test_scale_in_under_load_loses_no_request(cluster, namespace, operator, model_uri):
    p = paths(namespace)
    cluster.create(p["mds"], quickstart(namespace, model_uri))
    wait_for(lambda: ready_replicas(cluster, namespace) == 1, timeout=900, what="quickstart Ready")
    status, _ = cluster.request("PATCH", f"{p['mds']}/quickstart/scale", {"spec": {"replicas": 3}}, MERGE)
    assert status == 200
    wait_for(lambda: ready_replicas(cluster, namespace) == 3, timeout=600, what="3 ready replicas")
    run_client(cluster, namespace, "load", DURATION="60")
    wait_for(lambda: (line := last_line(cluster, namespace, "load")) and line["successes"] > 100, timeout=120,
             what="load running")
    status, _ = cluster.request("PATCH", f"{p['mds']}/quickstart/scale", {"spec": {"replicas": 1}}, MERGE)
    assert status == 200
    wait_for(lambda: ready_replicas(cluster, namespace) == 1 and len(
        cluster.get(f"{p['pods']}?labelSelector=serving.modeldeploy.io/modeldeployment%3Dquickstart")["items"]) == 1,
        timeout=180, what="back to one pod")
    report = wait_for(lambda: (line := last_line(cluster, namespace, "load")) and line.get("done") and line,
                      timeout=120, what="load finished")
    assert report["failures"] == 0, report["errors"]
    assert report["successes"] > 0 and report["by_version"] == {"1": report["successes"]}
