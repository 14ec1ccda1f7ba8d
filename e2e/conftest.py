"""Real-cluster tests: the integration scenarios against the cluster of KUBECONFIG (kind, k3d, any).

    MODELDEPLOY_E2E=1 KUBECONFIG=~/.kube/config .venv/bin/python -m pytest e2e -v

They install the CRDs (server-side apply), run `modeldeploy operator` from this
machine against the cluster, and work in a throwaway namespace. Without
MODELDEPLOY_E2E=1 or a reachable cluster they skip and say why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def pytest_collection_modifyitems(config, items):
    items = [item for item in items if Path(str(item.fspath)).is_relative_to(Path(__file__).parent)]
    if not items:
        return
    reason = None
    if os.environ.get("MODELDEPLOY_E2E") != "1":
        reason = "real-cluster tests: set MODELDEPLOY_E2E=1 and KUBECONFIG to run them"
    else:
        try:
            from kubernetes import client, config as kconfig

            kconfig.load_kube_config()
            client.VersionApi().get_code(_request_timeout=5)
        except Exception as err:  # noqa: BLE001 - any failure means: no cluster to test against
            reason = f"no reachable cluster in KUBECONFIG ({type(err).__name__}: {err})"[:300]
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


# -- fixtures shared by the e2e tests ------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    from cluster_access import Cluster

    for crd in ("serving.modeldeploy.io_modeldeployments.yaml", "kopf.dev_peerings.yaml"):
        subprocess.run([str(REPO / ".cache/tools/bin/kubectl"), "apply", "--server-side", "-f",
                        str(REPO / "crds" / crd)], check=True)
    return Cluster()


@pytest.fixture
def namespace(cluster):
    name = f"md-e2e-{uuid.uuid4().hex[:6]}"
    cluster.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name}})
    yield name
    cluster.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def operator(namespace):
    """`modeldeploy operator` on this machine for the test namespace; yields its metrics port.

    MODELDEPLOY_E2E_RUNTIME_IMAGE names the init containers' image when it is not the default
    (for kind: the image built from runtime/Dockerfile and loaded with `kind load docker-image`).
    """
    from support.operator_process import free_port

    port, health = free_port(), free_port()
    image = os.environ.get("MODELDEPLOY_E2E_RUNTIME_IMAGE")
    proc = subprocess.Popen([sys.executable, "-m", "modeldeploy.cli", "operator", "--namespace", namespace,
                             "--standalone", "--resync-seconds", "5", "--bind-address", "127.0.0.1",
                             "--metrics-port", str(port), "--health-port", str(health),
                             *(["--runtime-image", image] if image else [])],
                            env={**os.environ})
    time.sleep(5)
    yield port
    proc.terminate()
    proc.wait(20)
