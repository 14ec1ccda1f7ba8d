"""Real-cluster tests: the integration scenarios against the cluster of KUBECONFIG (kind, k3d, any).

    MODELDEPLOY_E2E=1 KUBECONFIG=~/.kube/config .venv/bin/python -m pytest e2e -v

They install the CRDs (server-side apply) and work in a throwaway namespace.
The operator runs in the cluster, installed with the Helm chart, when
MODELDEPLOY_E2E_OPERATOR_IMAGE names its image (what the kind workflow
does): it must reach the pods to smoke-test them before they take traffic,
to judge a canary on their metrics and to autoscale on them. Without it the
operator runs on this machine, and the tests that need it to reach the pods
skip and say why. Without MODELDEPLOY_E2E=1 or a reachable cluster every
test skips and says why.
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


IN_CLUSTER = bool(os.environ.get("MODELDEPLOY_E2E_OPERATOR_IMAGE"))


@pytest.fixture
def operator(namespace):
    """The operator for the test namespace: installed by the chart in the cluster, else on this machine.

    MODELDEPLOY_E2E_OPERATOR_IMAGE (repository:tag) installs the chart with that image; MODELDEPLOY_E2E_RUNTIME_IMAGE
    names the init containers' image when it is not the default (for kind: images built from the Dockerfiles
    and loaded with `kind load docker-image`).
    """
    runtime = os.environ.get("MODELDEPLOY_E2E_RUNTIME_IMAGE")
    if IN_CLUSTER:
        yield from _chart_operator(namespace, os.environ["MODELDEPLOY_E2E_OPERATOR_IMAGE"], runtime)
        return
    from support.operator_process import free_port

    port, health = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "modeldeploy.cli", "operator", "--namespace", namespace,
                             "--standalone", "--resync-seconds", "5", "--bind-address", "127.0.0.1",
                             "--metrics-port", str(port), "--health-port", str(health),
                             *(["--runtime-image", runtime] if runtime else [])],
                            env={**os.environ})
    time.sleep(5)
    yield port
    proc.terminate()
    proc.wait(20)


def _chart_operator(namespace: str, image: str, runtime: str | None):
    helm = str(REPO / ".cache/tools/bin/helm")
    repository, _, tag = image.rpartition(":")
    release = "md-e2e"
    values = ["--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
              "--set", "image.pullPolicy=IfNotPresent", "--set", f"watchNamespaces={{{namespace}}}",
              "--set", "resyncSeconds=5", "--skip-crds"]
    if runtime:
        values += ["--set", f"runtimeImage={runtime}"]
    subprocess.run([helm, "install", release, str(REPO / "charts/modeldeploy-operator"), "-n", namespace,
                    "--wait", "--timeout", "180s", *values], check=True)
    yield None
    subprocess.run([helm, "uninstall", release, "-n", namespace, "--wait"], check=False)


def needs_pod_network() -> None:
    """Skip a test whose operator must reach the pods (smoke gate, analysis, builtin autoscaler)."""
    if not IN_CLUSTER:
        pytest.skip("the operator runs on this machine and cannot reach pod IPs: set MODELDEPLOY_E2E_OPERATOR_IMAGE "
                    "to run it in the cluster (the kind workflow does)")
