"""The loopback harness's rollout scenarios (tests/test_harness_rollouts.py) on a real cluster.

A canary under load from a client pod, its traffic split read from the
replies' model_version; and a version that fails every request, rolled back
by the analysis. The operator must reach the pods (smoke gate, analysis), so
these run with the operator in the cluster (MODELDEPLOY_E2E_OPERATOR_IMAGE).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cluster_access import wait_for
from conftest import needs_pod_network
from test_serving import (last_line, model, paths, quickstart, ready_replicas, run_client,  # noqa: F401 - model is a fixture
                          serve_files, tarball)

pytestmark = pytest.mark.e2e

BROKEN = "class TritonPythonModel:\n    def execute(self, requests):\n        raise RuntimeError('broken')\n"


@pytest.fixture
def model_uris(cluster, namespace, model) -> dict[str, str]:
    """The quickstart model and a version of it that raises on every request, as tarballs served in the namespace."""
    base = serve_files(cluster, namespace, {"quickstart.tar.gz": tarball(Path(model)),
                                            "broken.tar.gz": tarball(Path(model), {"model.py": BROKEN})})
    return {"good": f"{base}/quickstart.tar.gz", "broken": f"{base}/broken.tar.gz"}


def rollout_state(cluster, namespace: str) -> dict:
    md = cluster.get(f"{paths(namespace)['mds']}/quickstart")
    return ((md or {}).get("status") or {}).get("rollout") or {}


def serve_under_load(cluster, namespace: str, md: dict, *, seconds: int, answered: int) -> None:
    """v1 Ready at its 2 replicas, then a client pod sending requests for `seconds`, `answered` of them already."""
    cluster.create(paths(namespace)["mds"], md)
    wait_for(lambda: ready_replicas(cluster, namespace) == 2, timeout=900, what="v1 Ready")
    run_client(cluster, namespace, "load", DURATION=str(seconds), REQUESTS_PER_CONNECTION="1")
    wait_for(lambda: (line := last_line(cluster, namespace, "load")) and line["successes"] > answered, timeout=120,
             what="load running")


def apply_spec(cluster, namespace: str, md: dict) -> None:
    status, body = cluster.request("PATCH", f"{paths(namespace)['mds']}/quickstart", {"spec": md["spec"]},
                                   "application/merge-patch+json")
    assert status == 200, body


def test_a_canary_under_load_splits_traffic_and_loses_nothing(cluster, namespace, operator, model_uris):
    needs_pod_network()
    md = quickstart(namespace, model_uris["good"])
    md["spec"]["replicas"] = 2
    md["spec"]["rollout"] = {"steps": [{"weight": 50, "pause": "40s"}], "maxSurge": 1,
                             "analysis": {"interval": "5s", "minRequests": 5}}
    serve_under_load(cluster, namespace, md, seconds=240, answered=100)
    md["spec"]["model"]["version"] = "2"
    apply_spec(cluster, namespace, md)
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
    md = quickstart(namespace, model_uris["good"])
    md["spec"]["replicas"] = 2
    md["spec"]["rollout"] = {"steps": [{"weight": 50, "pause": "10m"}], "maxSurge": 1,
                             "analysis": {"interval": "5s", "minRequests": 5, "failureLimit": 2,
                                          "smokeTest": False}}
    serve_under_load(cluster, namespace, md, seconds=180, answered=50)
    md["spec"]["model"]["version"] = "2"
    md["spec"]["model"]["uri"] = model_uris["broken"]
    apply_spec(cluster, namespace, md)
    aborted = wait_for(lambda: (r := rollout_state(cluster, namespace)).get("phase") == "Aborted" and r,
                       timeout=600, what="rolled back")
    assert "error ratio" in aborted["abortedReason"]
    time.sleep(15)
    settled = last_line(cluster, namespace, "load")
    time.sleep(15)
    later = last_line(cluster, namespace, "load")
    assert later["failures"] == settled["failures"], "no failure once traffic is back on v1"
    assert later["by_version"].get("2", 0) == 0
