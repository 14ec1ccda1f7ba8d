"""The operator's integration scenarios (tests/test_operator.py) on a real API server.

Here the API server itself validates (CEL, schema), splits status, bumps
generation, and the garbage collector deletes children through owner
references; writes are counted by the operator's own metrics.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from cluster_access import MERGE, wait_for
from conftest import REPO

pytestmark = pytest.mark.e2e


def _operator_writes(metrics_port: int) -> float:
    import urllib.request

    from support.operator_process import writes_in

    return writes_in(urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode())


def _md(namespace: str) -> dict:
    md = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    md["metadata"] = {"name": "quickstart", "namespace": namespace}
    return md


def test_create_edit_drift_idle_and_delete(cluster, namespace, operator):
    mds = f"/apis/serving.modeldeploy.io/v1alpha1/namespaces/{namespace}/modeldeployments"
    deployments = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    services = f"/api/v1/namespaces/{namespace}/services"
    status, created = cluster.request("POST", mds, _md(namespace))
    assert status == 201, created
    dep = wait_for(lambda: cluster.get(f"{deployments}/quickstart-v1"), what="Deployment")
    assert dep["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    md = wait_for(lambda: (m := cluster.get(f"{mds}/quickstart")) and (m.get("status") or {}).get("url") and m,
                  what="status")
    assert md["status"]["observedGeneration"] == md["metadata"]["generation"]

    # An edit updates in place.
    cluster.request("PATCH", f"{mds}/quickstart", {"spec": {"replicas": 2}}, MERGE)
    wait_for(lambda: cluster.get(f"{deployments}/quickstart-v1")["spec"]["replicas"] == 2, what="replicas 2")
    assert cluster.get(f"{deployments}/quickstart-v1")["metadata"]["uid"] == dep["metadata"]["uid"]

    # Nothing changes: no write over two resync periods.
    time.sleep(6)
    before = _operator_writes(operator)
    time.sleep(11)
    assert _operator_writes(operator) == before

    # A child deleted by hand comes back.
    cluster.request("DELETE", f"{services}/quickstart")
    wait_for(lambda: cluster.get(f"{services}/quickstart"), timeout=15, what="Service restored")

    # The API server itself refuses an invalid spec; what serves is untouched.
    status, body = cluster.request("PATCH", f"{mds}/quickstart",
                                   {"spec": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2, "target": "50ms"}}},
                                   MERGE)
    assert status == 422 and "minReplicas" in json.dumps(body)

    # Deleting never waits on a finalizer; the garbage collector removes the children.
    cluster.request("DELETE", f"{mds}/quickstart")
    wait_for(lambda: cluster.get(f"{mds}/quickstart") is None, timeout=15, what="ModelDeployment gone")
    wait_for(lambda: cluster.get(f"{deployments}/quickstart-v1") is None, timeout=60, what="children collected")


def test_chart_installs_on_the_cluster(cluster):
    """`helm install --dry-run=server` against the real API server: schemas, RBAC and CRDs accepted."""
    result = subprocess.run([str(REPO / ".cache/tools/bin/helm"), "install", "md-e2e",
                             str(REPO / "charts/modeldeploy-operator"), "--namespace", "default",
                             "--dry-run=server"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
