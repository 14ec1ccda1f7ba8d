"""The loopback harness's rollout scenarios (tests/test_harness_rollouts.py) on a real cluster.

A canary under load from a client pod, its traffic split read from the
replies' model_version; and a version that fails every request, rolled back
by the analysis. The operator must reach the pods (smoke gate, analysis), so
these run with the operator in the cluster (MODELDEPLOY_E2E_OPERATOR_IMAGE).
"""

from __future__ import annotations

import base64
import io
import tarfile
import time
from pathlib import Path

import pytest

from cluster_access import wait_for
from conftest import needs_pod_network
from test_serving import last_line, model, paths, python_deployment, quickstart, ready_replicas, run_client  # noqa: F401 - model is a fixture

pytestmark = pytest.mark.e2e

BROKEN = "class TritonPythonModel:\n    def execute(self, requests):\n        raise RuntimeError('broken')\n"


@pytest.fixture
def model_uris(cluster, namespace, model) -> dict[str, str]:
    """The quickstart model and a version of it that raises on every request, as tarballs served in the namespace."""
    p = paths(namespace)
    files = {}
    for name, replace in (("quickstart", None), ("broken", BROKEN)):
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            for file in sorted(Path(model).iterdir()):
                if replace is not None and file.name == "model.py":
                    data = replace.encode()
                    info = tarfile.TarInfo("model.py")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                else:
                    tar.add(file, arcname=file.name)
        files[f"{name}.tar.gz"] = base64.b64encode(archive.getvalue()).decode()
    cluster.create(p["configmaps"], {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "model-files", "namespace": namespace}, "binaryData": files})
    cluster.create(p["deployments"], python_deployment(
        "model-server", namespace, ["python3", "-m", "http.server", "8080", "--directory", "/srv"],
        {"configMap": {"name": "model-files"}}, 8080))
    cluster.create(p["services"], {"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": "model-server", "namespace": namespace},
                                   "spec": {"selector": {"app": "model-server"},
                                            "ports": [{"port": 8080, "targetPort": "http"}]}})
    wait_for(lambda: (cluster.get(f"{p['deployments']}/model-server").get("status") or {}).get("readyReplicas"),
             timeout=180, what="model server ready")
    base = f"http://model-server.{namespace}.svc:8080"
    return {"good": f"{base}/quickstart.tar.gz", "broken": f"{base}/broken.tar.gz"}


def rollout_state(cluster, namespace: str) -> dict:
    md = cluster.get(f"{paths(namespace)['mds']}/quickstart")
    return ((md or {}).get("status") or {}).get("rollout") or {}


def test_a_canary_under_load_splits_traffic_and_loses_nothing(cluster, namespace, operator, model_uris):
    needs_pod_network()
    p = paths(namespace)
    md = quickstart(namespace, model_uris["good"])
    md["spec"]["replicas"] = 2
    md["spec"]["rollout"] = {"steps": [{"weight": 50, "pause": "40s"}], "maxSurge": 1,
                             "analysis": {"interval": "5s", "minRequests": 5}}
    cluster.create(p["mds"], md)
    wait_for(lambda: ready_replicas(cluster, namespace) == 2, timeout=900, what="v1 Ready")
    run_client(cluster, namespace, "load", DURATION="240", REQUESTS_PER_CONNECTION="1")
    wait_for(lambda: (line := last_line(cluster, namespace, "load")) and line["successes"] > 100, timeout=120,
             what="load running")
    md["spec"]["model"]["version"] = "2"
    status, body = cluster.request("PATCH", f"{p['mds']}/quickstart", {"spec": md["spec"]},
                                   "application/merge-patch+json")
    assert status == 200, body
    wait_for(lambda: rollout_state(cluster, namespace).get("stepReachedAt"), timeout=600, what="the 50% step")
    before = (last_line(cluster, namespace, "load") or {}).get("by_version", {})
    time.sleep(20)
    during = (last_line(cluster, namespace, "load") or {}).get("by_version", {})
    took = {v: during.get(v, 0) - before.get(v, 0) for v in during}
    share = 100 * took.get("2", 0) / max(1, sum(took.values()))
    assert abs(share - 50) <= 10, took
    wait_for(lambda: rollout_state(cluster, namespace).get("stable") == "v2", timeout=600, what="v2 stable")
    report = wait_for(lambda: (line := last_line(cluster, namespace, "load")) and line.get("done") and line,
                      timeout=300, what="load finished")
    assert report["failures"] == 0, report["errors"]


def test_a_version_failing_every_request_is_rolled_back(cluster, namespace, operator, model_uris):
    needs_pod_network()
    p = paths(namespace)
    md = quickstart(namespace, model_uris["good"])
    md["spec"]["replicas"] = 2
    md["spec"]["rollout"] = {"steps": [{"weight": 50, "pause": "10m"}], "maxSurge": 1,
                             "analysis": {"interval": "5s", "minRequests": 5, "failureLimit": 2,
                                          "smokeTest": False}}
    cluster.create(p["mds"], md)
    wait_for(lambda: ready_replicas(cluster, namespace) == 2, timeout=900, what="v1 Ready")
    run_client(cluster, namespace, "load", DURATION="180", REQUESTS_PER_CONNECTION="1")
    wait_for(lambda: (line := last_line(cluster, namespace, "load")) and line["successes"] > 50, timeout=120,
             what="load running")
    md["spec"]["model"]["version"] = "2"
    md["spec"]["model"]["uri"] = model_uris["broken"]
    status, body = cluster.request("PATCH", f"{p['mds']}/quickstart", {"spec": md["spec"]},
                                   "application/merge-patch+json")
    assert status == 200, body
    aborted = wait_for(lambda: (r := rollout_state(cluster, namespace)).get("phase") == "Aborted" and r,
                       timeout=600, what="rolled back")
    assert "error ratio" in aborted["abortedReason"]
    time.sleep(15)
    settled = last_line(cluster, namespace, "load")
    time.sleep(15)
    later = last_line(cluster, namespace, "load")
    assert later["failures"] == settled["failures"], "no failure once traffic is back on v1"
    assert later["by_version"].get("2", 0) == 0
