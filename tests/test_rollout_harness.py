"""A real canary on the loopback cluster, steered with `modeldeploy rollout` as a user would.

Real Triton pods serve version 1, then version 2 comes in as a canary that
holds at 50% until `modeldeploy rollout promote`; `modeldeploy rollout
status`, started when the rollout begins, exits 0 once it completes. A
client sends inferences through the Service the whole time. What kubectl
shows at each step (the CRD's printer columns, read by the real kubectl)
is printed with -s: docs/rollouts.md shows such a run.
"""

from __future__ import annotations

import copy
import os
import subprocess

import pytest
import yaml

from conftest import REPO
from support.cluster.objects import condition
from test_cli_messages import EXE
from test_harness_serving import INPUTS, OUTPUTS, QUICKSTART, first_inference

pytestmark = pytest.mark.harness

KUBECTL = REPO / ".cache" / "tools" / "bin" / "kubectl"
CRD = REPO / "crds" / "serving.modeldeploy.io_modeldeployments.yaml"


def printer_columns() -> str:
    """kubectl's custom-columns from the CRD's own printer columns (Age left out: it would read as a date)."""
    version = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]
    columns = [("NAME", ".metadata.name")] + [(c["name"].upper(), c["jsonPath"])
                                              for c in version["additionalPrinterColumns"] if c["type"] != "date"]
    return ",".join(f"{name}:{path}" for name, path in columns)


def kubectl_get(kubeconfig: str, name: str) -> str:
    """`kubectl get modeldeployment NAME` with the printer columns, from the real kubectl."""
    assert KUBECTL.exists(), f"{KUBECTL} is missing: run scripts/tools (scripts/test does)"
    proc = subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, "get", "modeldeployments", name,
                           "-o", f"custom-columns={printer_columns()}"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    print(f"$ kubectl get modeldeployments {name}\n{proc.stdout}")
    return proc.stdout


def columns(table: str) -> dict[str, str]:
    header, row = table.splitlines()[:2]
    return dict(zip(header.split(), row.split()))


def modeldeploy_rollout(kubeconfig: str, *args: str, background: bool = False):
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    argv = [EXE, "rollout", *args]
    if background:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    print(f"$ modeldeploy rollout {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    return proc


def test_a_canary_promoted_with_modeldeploy_rollout_completes_under_load(cluster):
    kubeconfig = cluster.operator.kubeconfig
    md = yaml.safe_load(QUICKSTART.read_text())
    md["spec"]["replicas"] = 2
    md["spec"]["rollout"] = {"steps": [{"weight": 50}], "analysis": {"interval": "3s"}}
    cluster.apply(md)
    cluster.wait(lambda: (cluster.md("quickstart").get("status") or {}).get("readyReplicas") == 2, timeout=120,
                 what="v1 at 2 ready replicas")
    assert columns(kubectl_get(kubeconfig, "quickstart"))["TRAFFIC"] == "v1=100"
    first_inference(cluster.service_address("quickstart", "http"), "http")

    with cluster.load(cluster.service_address("quickstart", "http"), "quickstart", INPUTS, OUTPUTS,
                      concurrency=1) as load:
        load.wait_for(20, timeout=60)
        v2 = copy.deepcopy(md)
        v2["spec"]["model"]["version"] = "2"
        cluster.apply(v2)
        watcher = modeldeploy_rollout(kubeconfig, "status", "quickstart", "--timeout", "4m", background=True)
        cluster.wait(lambda: "v2=" in ((cluster.md("quickstart").get("status") or {}).get("traffic") or ""),
                     timeout=30, what="the canary in status")
        starting = columns(kubectl_get(kubeconfig, "quickstart"))
        assert (starting["READY"], starting["VERSION"], starting["TRAFFIC"]) == ("True", "2", "v1=100,v2=0"), \
            "Ready holds while the stable serves; the canary takes no traffic before it serves"
        cluster.wait(lambda: "waiting for `modeldeploy rollout promote`" in
                     ((cluster.md("quickstart").get("status") or {}).get("rollout") or {}).get("message", ""),
                     timeout=120, what="the canary holds at 50%")
        held = columns(kubectl_get(kubeconfig, "quickstart"))
        assert (held["READY"], held["VERSION"], held["TRAFFIC"], held["REPLICAS"]) == ("True", "2", "v1=50,v2=50", "2")
        shown = modeldeploy_rollout(kubeconfig, "status", "quickstart", "--no-watch")
        assert shown.returncode == 0 and "CanaryStep 1/2, weight 50%: waiting for `modeldeploy rollout promote`" \
            in shown.stdout
        load.wait_for(load.report.successes + 20, timeout=60)  # both revisions answer at 50%

        promoted = modeldeploy_rollout(kubeconfig, "promote", "quickstart")
        assert promoted.returncode == 0, promoted.stderr
        assert promoted.stdout.startswith("promoting default/quickstart: CanaryStep 1/2 (50%) → CanaryStep 2/2 "
                                          "(100%) now")
        out, err = watcher.communicate(timeout=240)
        print(f"$ modeldeploy rollout status quickstart\n{out}{err}")
        assert watcher.returncode == 0, out + err
        assert out.splitlines()[-1] == "rollout complete: revision v2 (version 2) takes all traffic, " \
                                       "2/2 replicas ready"
        done = columns(kubectl_get(kubeconfig, "quickstart"))
        assert (done["READY"], done["TRAFFIC"], done["REPLICAS"]) == ("True", "v2=100", "2")
        load.wait_for(load.report.successes + 10, timeout=60)
    report = load.report
    assert report.failures == 0, report.errors[:5]
    assert report.by_version["1"] > 0 and report.by_version["2"] > 0, report.by_version
    assert condition(cluster.md("quickstart"), "Ready")["status"] == "True"
    modeldeploy_rollout(kubeconfig, "history", "quickstart")
