"""The real operator process against the Kubernetes API emulator, over HTTP.

What each test proves is what a platform engineer would notice on a cluster:
children appear and follow the spec, nothing is written while nothing
changes, drift is repaired, failures surface as conditions with reasons.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time

import pytest
import yaml

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import build_all
from support.operator_process import MD_PATH, OperatorProcess, wait_for
from conftest import REPO

pytestmark = pytest.mark.integration

NS = "ml"
MDS = MD_PATH.format(ns=NS)
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
SERVICES = f"/api/v1/namespaces/{NS}/services"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"
PDBS = f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets"
NETPOLS = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"
PODS = f"/api/v1/namespaces/{NS}/pods"
EVENTS = f"/api/v1/namespaces/{NS}/events"
MERGE = "application/merge-patch+json"


def quickstart(name: str = "quickstart") -> dict:
    md = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    md["metadata"] = {"name": name, "namespace": NS}
    return md


def create(api, md: dict) -> dict:
    status, body = api.request("POST", MDS, md)
    assert status == 201, body
    return body


def md_of(api, name: str = "quickstart") -> dict:
    return api.get(f"{MDS}/{name}")


def condition(md: dict, type_: str) -> dict | None:
    return next((c for c in (md.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def children(api, name: str = "quickstart") -> dict[tuple[str, str], dict]:
    found = {}
    for path in (DEPLOYMENTS, SERVICES, CONFIGMAPS, PDBS, NETPOLS):
        for obj in api.items(path):
            if obj["metadata"].get("labels", {}).get("serving.modeldeploy.io/modeldeployment") == name:
                found[(obj["kind"], obj["metadata"]["name"])] = obj
    return found


def converged(api, name: str = "quickstart", count: int = 6):
    def check():
        md = md_of(api, name)
        kids = children(api, name)
        return md and len(kids) == count and md.get("status", {}).get("observedGeneration") == \
            md["metadata"]["generation"] and kids
    return wait_for(check, what=f"{name} converged")


def settle(api, quiet: float = 1.5, timeout: float = 15.0) -> list:
    """Wait until no write happened for `quiet` seconds; return the write log."""
    deadline = time.monotonic() + timeout
    last, since = len(api.write_log()), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(api.write_log())
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return api.write_log()
    raise AssertionError("the operator kept writing")


def patch_md(api, name: str, patch: dict) -> dict:
    status, body = api.request("PATCH", f"{MDS}/{name}", patch, MERGE)
    assert status == 200, body
    return body


def set_deployment_ready(api, name: str, replicas: int | None = None) -> None:
    dep = api.get(f"{DEPLOYMENTS}/{name}")
    n = replicas if replicas is not None else dep["spec"].get("replicas", 1)
    status = {"observedGeneration": dep["metadata"]["generation"], "replicas": n, "updatedReplicas": n,
              "readyReplicas": n, "availableReplicas": n}
    code, body = api.request("PATCH", f"{DEPLOYMENTS}/{name}/status", {"status": status}, MERGE)
    assert code == 200, body


READY = {"phase": "Running", "conditions": [
    {"type": "Ready", "status": "True"}, {"type": "serving.modeldeploy.io/smoke", "status": "True"}],
    "containerStatuses": [{"name": "triton", "ready": True, "restartCount": 0, "state": {"running": {}}}]}


def serve_pods(api, revision: str, count: int, md: str = "quickstart") -> None:
    """What the Deployment controller and the kubelet would do: `count` ready pods of a revision."""
    for i in range(count):
        add_pod(api, f"{md}-{revision}-{i}", READY, md=md, revision=revision)
    set_deployment_ready(api, f"{md}-{revision}", count)


def remove_pods(api, revision: str, md: str = "quickstart") -> None:
    for pod in api.items(PODS):
        if pod["metadata"]["labels"].get("serving.modeldeploy.io/revision") == revision and \
                pod["metadata"]["labels"].get("serving.modeldeploy.io/modeldeployment") == md:
            api.request("DELETE", f"{PODS}/{pod['metadata']['name']}")


def add_pod(api, name: str, status: dict, md: str = "quickstart", revision: str = "v1") -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {
            "app.kubernetes.io/managed-by": "modeldeploy", "app.kubernetes.io/instance": md,
            "serving.modeldeploy.io/modeldeployment": md, "serving.modeldeploy.io/revision": revision}},
        "spec": {"containers": [{"name": "triton", "image": "nvcr.io/nvidia/tritonserver:24.08-py3"}]},
    }
    code, body = api.request("POST", PODS, pod)
    assert code == 201, body
    code, body = api.request("PATCH", f"{PODS}/{name}/status", {"status": status}, MERGE)
    assert code == 200, body


# -- create, update, idempotence -----------------------------------------------------------------------

def test_create_gives_the_builders_children_owned_by_the_modeldeployment(apiserver, operator_process):
    created = create(apiserver, quickstart())
    kids = converged(apiserver)
    expected = build_all(parse_model_deployment(quickstart()))
    assert set(kids) == {(o["kind"], o["metadata"]["name"]) for o in expected}
    for want in expected:
        got = kids[(want["kind"], want["metadata"]["name"])]
        assert got["metadata"]["ownerReferences"] == [{
            "apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment", "name": "quickstart",
            "uid": created["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        for field in ("spec", "data"):
            assert got.get(field) == want.get(field), f"{want['kind']} {field} differs from the builders'"
    md = md_of(apiserver)
    assert md["status"]["url"] == "http://quickstart.ml.svc:8000/v2/models/quickstart"
    assert md["status"]["grpcAddress"] == "quickstart.ml.svc:8001"
    assert "finalizers" not in md["metadata"], "no finalizer: deleting never waits for the operator"


def test_create_costs_children_plus_two_writes_and_then_nothing(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    writes = settle(apiserver)
    ours = [w for w in writes if not (w[0] == "POST" and w[1] == MDS)]
    assert len(ours) <= 6 + 2, ours
    # Idle for several resync periods, then the same spec applied again (a no-op write by the user):
    time.sleep(3 * operator_process.resync_seconds)
    patch_md(apiserver, "quickstart", {"spec": quickstart()["spec"]})
    patch_md(apiserver, "quickstart", {"metadata": {"labels": {"team": "vision"}}})  # an event, same spec
    time.sleep(3 * operator_process.resync_seconds)
    after = apiserver.write_log()
    assert [w for w in after[len(writes):] if not w[1].startswith(f"{MDS}/quickstart") or
            w[1].endswith("/status")] == [], "no API write while nothing changed"


def test_a_replica_edit_scales_in_place_and_a_pod_edit_is_a_new_revision(apiserver, operator_process):
    create(apiserver, quickstart())
    before = converged(apiserver)[("Deployment", "quickstart-v1")]
    patch_md(apiserver, "quickstart", {"spec": {"replicas": 3}})
    dep = wait_for(lambda: (d := apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")) and d["spec"]["replicas"] == 3 and d,
                   what="scaled in place")
    assert dep["metadata"]["uid"] == before["metadata"]["uid"]
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1-2") is None, "replicas are no new revision"

    spec = quickstart()["spec"]
    spec["runtime"]["resources"]["memory"] = "2Gi"
    spec["replicas"] = 3
    patch_md(apiserver, "quickstart", {"spec": spec})
    new = wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1-2"), what="a second revision of version 1")
    triton = new["spec"]["template"]["spec"]["containers"][0]
    assert triton["resources"]["limits"]["memory"] == "2Gi"
    assert new["metadata"]["annotations"]["serving.modeldeploy.io/revision-number"] == "2"
    old = apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")
    assert old["spec"]["template"] == dep["spec"]["template"], "the old revision's pods are never changed in place"
    wait_for(lambda: md_of(apiserver)["status"]["observedGeneration"] == 3, what="generation 3 observed")


def test_turning_the_smoke_test_off_is_no_new_revision_and_opens_the_gates_already_there(apiserver, operator_process):
    create(apiserver, quickstart())
    gated = converged(apiserver)[("Deployment", "quickstart-v1")]["spec"]["template"]["spec"]
    assert gated["readinessGates"] == [{"conditionType": "serving.modeldeploy.io/smoke"}]
    patch_md(apiserver, "quickstart", {"spec": {"rollout": {"analysis": {"smokeTest": False}}}})
    wait_for(lambda: md_of(apiserver)["status"]["observedGeneration"] == 2, what="generation 2 observed")
    settle(apiserver)
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1-2") is None, "a rollout setting is no new revision"
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["template"]["spec"]["readinessGates"] == \
        gated["readinessGates"], "the revision's pods are not rolled for it"
    # A pod of that revision (say, one that replaces a lost pod) still carries the gate: it must open.
    add_pod(apiserver, "quickstart-v1-x", {"phase": "Running", "podIP": "127.0.0.1", "containerStatuses": [
        {"name": "triton", "ready": True, "restartCount": 0, "state": {"running": {}}}]})
    code, body = apiserver.request("PATCH", f"{PODS}/quickstart-v1-x", {"spec": {"readinessGates": [
        {"conditionType": "serving.modeldeploy.io/smoke"}]}}, MERGE)
    assert code == 200, body
    smoke = wait_for(lambda: condition(apiserver.get(f"{PODS}/quickstart-v1-x"), "serving.modeldeploy.io/smoke"),
                     what="the gate opened")
    assert smoke["status"] == "True" and "smoke test off" in smoke["message"]
    # A new revision made while the test is off has no gate: nothing would open it in a cluster without us.
    patch_md(apiserver, "quickstart", {"spec": {"model": {"version": "2"}}})
    v2 = wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v2"), what="v2")
    assert "readinessGates" not in v2["spec"]["template"]["spec"]


def test_edits_that_touch_neither_pods_nor_counts_still_reach_their_children(apiserver, operator_process):
    hpas = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers"
    md = quickstart()
    md["spec"]["autoscaling"] = {"minReplicas": 1, "maxReplicas": 4, "metric": "pendingRequests", "target": 4}
    create(apiserver, md)
    wait_for(lambda: (md_of(apiserver).get("status") or {}).get("observedGeneration") == 1, what="generation 1")
    settle(apiserver)
    assert apiserver.get(f"{hpas}/quickstart") is None, "the builtin engine needs no HPA"

    patch_md(apiserver, "quickstart", {"spec": {"networkPolicy": {"allowedNamespaces": ["frontend"]}}})
    wait_for(lambda: "frontend" in json.dumps(apiserver.get(f"{NETPOLS}/quickstart")["spec"]["ingress"]),
             what="the network policy edit applied")

    patch_md(apiserver, "quickstart", {"spec": {"autoscaling": {"engine": "hpa"}}})
    wait_for(lambda: apiserver.get(f"{hpas}/quickstart"), what="the HPA of the new engine")

    patch_md(apiserver, "quickstart", {"spec": {"autoscaling": {
        "maxReplicas": 6, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}}})
    hpa = wait_for(lambda: (h := apiserver.get(f"{hpas}/quickstart")) and h["spec"]["maxReplicas"] == 6 and h,
                   what="the HPA edit applied")
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1-2") is None, "none of these is a new revision"


def install_crd(api, group: str, plural: str, kind: str) -> None:
    code, body = api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced", "names": {"plural": plural, "kind": kind}, "versions": []}})
    assert code == 201, body


OPTIONAL_APIS = {
    "keda": (("keda.sh", "scaledobjects", "ScaledObject"), "/apis/keda.sh/v1alpha1", "AutoscalerUnavailable",
             ("autoscaling", {"minReplicas": 1, "maxReplicas": 4, "metric": "pendingRequests", "target": 4,
                              "engine": "keda"})),
    "gateway": (("gateway.networking.k8s.io", "httproutes", "HTTPRoute"), "/apis/gateway.networking.k8s.io/v1",
                "TrafficRoutingUnavailable",
                ("rollout", {"trafficRouting": {"gatewayApi": {"parentRefs": [{"name": "gateway"}]}}})),
}


@pytest.mark.parametrize("api_name", OPTIONAL_APIS)
def test_an_optional_api_installed_after_the_operator_started_is_used_within_a_resync(apiserver, operator_process,
                                                                                     api_name):
    crd, prefix, reason, (section, asks) = OPTIONAL_APIS[api_name]
    objects = f"{prefix}/namespaces/{NS}/{crd[1]}"
    md = quickstart()
    md["spec"][section] = {**md["spec"].get(section, {}), **asks}
    create(apiserver, md)
    degraded = wait_for(lambda: (c := condition(md_of(apiserver), "Degraded")) and c["status"] == "True" and c,
                        what=f"Degraded without {api_name}")
    assert degraded["reason"] == reason
    assert apiserver.get(f"{objects}/quickstart") is None
    install_crd(apiserver, *crd)
    made = wait_for(lambda: apiserver.get(f"{objects}/quickstart"), timeout=15,
                    what=f"the {crd[2]}, without an operator restart")
    assert made["metadata"]["ownerReferences"][0]["name"] == "quickstart"
    wait_for(lambda: condition(md_of(apiserver), "Degraded")["reason"] != reason, what=f"{reason} cleared")
    settle(apiserver)
    before = len(apiserver.write_log())
    time.sleep(3)  # three resyncs: the new kind is watched like any child, never re-applied
    assert apiserver.write_log()[before:] == []


def test_with_engine_keda_status_shows_the_figures_of_the_hpa_keda_made(apiserver, operator_process):
    install_crd(apiserver, "keda.sh", "scaledobjects", "ScaledObject")
    md = quickstart()
    md["spec"]["autoscaling"] = OPTIONAL_APIS["keda"][3][1]
    create(apiserver, md)
    scaled = wait_for(lambda: apiserver.get(f"/apis/keda.sh/v1alpha1/namespaces/{NS}/scaledobjects/quickstart"),
                      what="the ScaledObject")
    # What KEDA does with it: an HPA named after it, with its labels, controlled by it.
    hpas = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers"
    code, body = apiserver.request("POST", hpas, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-hpa-quickstart", "labels": scaled["metadata"]["labels"], "ownerReferences": [
            {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "quickstart",
             "uid": scaled["metadata"].get("uid", "so-uid"), "controller": True}]},
        "spec": {"scaleTargetRef": scaled["spec"]["scaleTargetRef"], "minReplicas": 1, "maxReplicas": 4}})
    assert code == 201, body
    code, body = apiserver.request("PATCH", f"{hpas}/keda-hpa-quickstart/status", {"status": {
        "desiredReplicas": 3, "currentMetrics": [{"type": "External", "external": {
            "metric": {"name": "s0-prometheus"}, "current": {"averageValue": "6"}}}]}})
    assert code == 200, body
    shown = wait_for(lambda: (a := (md_of(apiserver).get("status") or {}).get("autoscaling") or {})
                     .get("currentValue") and a, timeout=15, what="status.autoscaling with KEDA's figures")
    assert (shown["engine"], shown["currentValue"], shown["desiredReplicas"]) == ("keda", "6.0", 3), shown
    time.sleep(2)
    assert apiserver.get(f"{hpas}/keda-hpa-quickstart") is not None, "KEDA's HPA is KEDA's: never pruned"


def test_five_rapid_edits_converge_on_the_last(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    for replicas in (2, 3, 4, 5, 6):
        patch_md(apiserver, "quickstart", {"spec": {"replicas": replicas}})
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 6, what="replicas 6")
    settle(apiserver)
    md = md_of(apiserver)
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 6
    assert md["status"]["observedGeneration"] == md["metadata"]["generation"] == 6


def test_a_child_deleted_by_hand_comes_back_within_one_resync(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    code, _ = apiserver.request("DELETE", f"{SERVICES}/quickstart")
    assert code == 200
    started = time.monotonic()
    svc = wait_for(lambda: apiserver.get(f"{SERVICES}/quickstart"), timeout=operator_process.resync_seconds + 2,
                   what="Service restored")
    assert svc["spec"]["ports"][0]["port"] == 8000
    assert time.monotonic() - started <= operator_process.resync_seconds + 2


def test_a_hand_edit_of_an_owned_field_is_reverted(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    code, _ = apiserver.request("PATCH", f"{SERVICES}/quickstart",
                                {"spec": {"selector": {"app.kubernetes.io/instance": "someone-else"}}}, MERGE)
    assert code == 200
    wait_for(lambda: apiserver.get(f"{SERVICES}/quickstart")["spec"]["selector"]["app.kubernetes.io/instance"]
             == "quickstart", what="selector restored")


# -- status -------------------------------------------------------------------------------------------

def test_deployment_readiness_makes_the_modeldeployment_ready(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    assert condition(md_of(apiserver), "Ready")["status"] == "False"
    serve_pods(apiserver, "v1", 1)
    md = wait_for(lambda: (m := md_of(apiserver)) and condition(m, "Ready")["status"] == "True" and m,
                  what="Ready=True")
    ready = condition(md, "Ready")
    assert ready["reason"] == "Available"
    assert ready["observedGeneration"] == md["metadata"]["generation"] == md["status"]["observedGeneration"]
    assert md["status"]["readyReplicas"] == 1 and md["status"]["traffic"] == "v1=100"
    assert condition(md, "Progressing")["status"] == "False"
    reasons = [e["reason"] for e in apiserver.items(EVENTS)]
    assert reasons.count("Available") == 1, reasons


def test_lasttransitiontime_holds_while_the_status_does_not_flip(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    first = condition(md_of(apiserver), "Degraded")
    patch_md(apiserver, "quickstart", {"spec": {"replicas": 2}})
    wait_for(lambda: md_of(apiserver)["status"]["observedGeneration"] == 2, what="generation 2 observed")
    assert condition(md_of(apiserver), "Degraded")["lastTransitionTime"] == first["lastTransitionTime"]


FAILED_FETCH = {"phase": "Pending", "initContainerStatuses": [{
    "name": "fetch", "ready": False, "restartCount": 2, "image": "runtime",
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"exitCode": 12, "reason": "Error",
                                 "message": "fetch https://bob:hunter2@models.example/m.onnx: 403 Forbidden"}}}]}
OOM = {"phase": "Running", "containerStatuses": [{
    "name": "triton", "ready": False, "restartCount": 3, "image": "triton",
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
IMAGE_PULL = {"phase": "Pending", "containerStatuses": [{
    "name": "triton", "ready": False, "restartCount": 0, "image": "nvcr.io/nvidia/tritonserver:nope",
    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}
UNSCHEDULABLE = {"phase": "Pending", "conditions": [{
    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}


@pytest.mark.parametrize("pod_status, reason, words", [
    (FAILED_FETCH, "ModelFetchFailed", "403 Forbidden"),
    (OOM, "OOMKilled", "memory"),
    (IMAGE_PULL, "ImagePullFailed", "tritonserver:nope"),
    (UNSCHEDULABLE, "Unschedulable", "Insufficient nvidia.com/gpu"),
])
def test_pod_failures_surface_as_reasons(apiserver, operator_process, pod_status, reason, words):
    create(apiserver, quickstart())
    converged(apiserver)
    add_pod(apiserver, "quickstart-v1-abc12", pod_status)
    md = wait_for(lambda: (m := md_of(apiserver)) and condition(m, "Degraded")["status"] == "True" and m,
                  what=f"Degraded {reason}")
    for type_ in ("Ready", "Degraded"):
        assert condition(md, type_)["reason"] == reason
        assert words in condition(md, type_)["message"]
    warnings = [e for e in apiserver.items(EVENTS) if e["type"] == "Warning"]
    assert reason in {e["reason"] for e in warnings}
    everything = str(md) + str(apiserver.items(EVENTS)) + operator_process.logs()
    assert "hunter2" not in everything, "a credential leaked into status, Events or logs"


# -- errors -------------------------------------------------------------------------------------------

def test_an_invalid_spec_gives_a_condition_and_touches_no_child(apiserver, operator_process):
    create(apiserver, quickstart())
    before = converged(apiserver)
    writes = len(settle(apiserver))
    bad = quickstart()["spec"]
    bad["autoscaling"] = {"minReplicas": 5, "maxReplicas": 2, "target": "50ms"}
    patch_md(apiserver, "quickstart", {"spec": bad})
    md = wait_for(lambda: (m := md_of(apiserver)) and condition(m, "Ready")["reason"] == "InvalidSpec" and m,
                  what="InvalidSpec")
    assert "spec.autoscaling.minReplicas" in condition(md, "Ready")["message"]
    assert "Traceback" not in str(md)
    settle(apiserver)
    child_writes = [w for w in apiserver.write_log()[writes:] if "/modeldeployments/" not in w[1]
                    and "/events" not in w[1]]
    assert child_writes == [], "an invalid spec must not modify what serves"
    after = children(apiserver)
    assert {k: v["metadata"]["resourceVersion"] for k, v in after.items()} == \
           {k: v["metadata"]["resourceVersion"] for k, v in before.items()}


def test_a_server_rejection_becomes_a_condition_with_its_message(apiserver, operator_process):
    apiserver.fail("PATCH", r"/deployments/quickstart-v1$", 422,
                   'Deployment.apps "quickstart-v1" is invalid: spec.template.spec.containers[0].resources', times=1000)
    create(apiserver, quickstart())
    md = wait_for(lambda: (m := md_of(apiserver)) and condition(m, "Ready") and
                  condition(m, "Ready")["reason"] == "ApplyRejected" and m, what="ApplyRejected")
    assert "is invalid: spec.template.spec.containers[0].resources" in condition(md, "Ready")["message"]
    assert apiserver.get(f"{SERVICES}/quickstart") is None, "nothing applied after the rejection"
    assert "ApplyRejected" in {e["reason"] for e in apiserver.items(EVENTS) if e["type"] == "Warning"}
    # Once the server accepts again (here: the fault is lifted), the next resync recovers.
    apiserver.on_loop(apiserver.server.faults.clear)
    wait_for(lambda: condition(md_of(apiserver), "Ready")["reason"] != "ApplyRejected", timeout=20,
             what="recovery after the rejection")


@pytest.mark.parametrize("code", [409, 429, 500])
def test_conflicts_throttling_and_server_errors_are_retried(apiserver, operator_process, code):
    apiserver.fail("PATCH", r"/services/quickstart$", code, "try again")
    create(apiserver, quickstart())
    converged(apiserver)
    assert apiserver.get(f"{SERVICES}/quickstart") is not None
    assert "Traceback" not in operator_process.logs()


# -- lifecycle ----------------------------------------------------------------------------------------

def test_deleting_a_modeldeployment_never_waits_on_a_finalizer(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    operator_process.stop()  # even with no operator running
    code, _ = apiserver.request("DELETE", f"{MDS}/quickstart")
    assert code == 200
    assert md_of(apiserver) is None


def test_killed_mid_reconcile_and_restarted_converges_without_duplicates(apiserver):
    op = OperatorProcess(apiserver)
    try:
        op.start()
        names = [f"model-{i}" for i in range(4)]
        for name in names:
            create(apiserver, quickstart(name))
        wait_for(lambda: any(w[0] == "PATCH" and "/deployments/" in w[1] for w in apiserver.write_log()),
                 what="first child write")
        op.kill()
        op.start()
        for name in names:
            kids = converged(apiserver, name)
            assert sorted(k[0] for k in kids) == sorted(
                ["ConfigMap", "Deployment", "Service", "Service", "PodDisruptionBudget", "NetworkPolicy"])
        settle(apiserver)
        assert len(apiserver.items(DEPLOYMENTS)) == len(names)
    finally:
        op.close()


def test_an_autoscaler_scales_the_modeldeployment_and_the_deployment_follows(apiserver, operator_process):
    """One total: autoscalers write the ModelDeployment's /scale; only the operator writes Deployments."""
    md = quickstart()
    md["spec"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 8, "metric": "cpu", "target": 70, "engine": "hpa"}
    create(apiserver, md)
    converged(apiserver)
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 2, "spec.replicas 1 → minReplicas"
    code, _ = apiserver.request("PATCH", f"{MDS}/quickstart/scale", {"spec": {"replicas": 5}}, MERGE)
    assert code == 200
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 5, what="5 replicas")
    # A hand edit of the Deployment is a second writer: it is reverted to the total.
    apiserver.request("PATCH", f"{DEPLOYMENTS}/quickstart-v1", {"spec": {"replicas": 3}}, MERGE)
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 5, what="reverted to 5")
    apiserver.request("PATCH", f"{MDS}/quickstart/scale", {"spec": {"replicas": 50}}, MERGE)
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 8, what="maxReplicas")


def test_a_new_version_rolls_out_and_the_old_revision_stays_as_history(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    serve_pods(apiserver, "v1", 1)
    wait_for(lambda: md_of(apiserver)["status"].get("readyReplicas") == 1, what="v1 serving")
    spec = copy.deepcopy(quickstart()["spec"])
    spec["model"]["version"] = "2"
    patch_md(apiserver, "quickstart", {"spec": spec})
    v2 = wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v2"), what="v2 Deployment")
    assert v2["spec"]["replicas"] == 1, "the new revision comes up in the surge"
    settle(apiserver)
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 1, "v1 serves while v2 starts"
    assert condition(md_of(apiserver), "Ready")["status"] == "True", "Ready holds while the stable serves"
    serve_pods(apiserver, "v2", 1)
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 0, what="v1 scaled to 0")
    remove_pods(apiserver, "v1")
    md = wait_for(lambda: (m := md_of(apiserver)) and m["status"].get("traffic") == "v2=100" and m,
                  what="all traffic on v2")
    assert md["status"]["rollout"]["stable"] == "v2" and md["status"]["rollout"]["phase"] == "Stable"
    assert apiserver.get(f"{CONFIGMAPS}/quickstart-v1-config") is not None, "v1 kept for a fast undo"
    reasons = [e["reason"] for e in apiserver.items(EVENTS)]
    assert "RolloutStarted" in reasons and "RolloutCompleted" in reasons


# -- observability ------------------------------------------------------------------------------------

def test_metrics_and_health_endpoints(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    assert operator_process.http("/healthz")[0] == 200
    assert operator_process.http("/readyz")[0] == 200
    text = operator_process.metrics()
    assert re.search(r'modeldeploy_api_writes_total\{kind="Deployment",verb="patch"\} 1\.0', text), text
    assert re.search(r'modeldeploy_reconciles_total\{result="applied"\} [1-9]', text)
    assert re.search(r'modeldeploy_modeldeployments\{ready="False"\} 1\.0', text)
    assert "modeldeploy_reconcile_duration_seconds_bucket" in text


def test_the_documented_kopf_run_invocation_works(apiserver, tmp_path):
    import os
    import subprocess
    import sys

    from support.operator_process import free_port

    env = {**os.environ, "KUBECONFIG": apiserver.kubeconfig(str(tmp_path / "kubeconfig")),
           "MODELDEPLOY_METRICS_PORT": str(free_port())}
    log = open(tmp_path / "kopf.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "-m", "modeldeploy.handlers.kopf_entry",
                             "--all-namespaces", "--standalone"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        create(apiserver, quickstart())
        converged(apiserver)
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
        log.close()


def _permission(method: str, path: str, query: dict) -> tuple[str, str, str] | None:
    """The RBAC (apiGroup, resource, verb) a request needs; None for discovery, which every user may read."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    if not rest:
        return None
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    named = len(rest) > 1
    verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(method)
    if verb is None:
        verb = "watch" if query.get("watch") in ("true", "1") else ("get" if named else "list")
    return group, resource, verb


def test_every_request_the_operator_makes_is_a_declared_permission(apiserver, operator_process):
    from modeldeploy.clients.permissions import PERMISSIONS

    md = quickstart()
    md["spec"]["rollout"] = {"revisionHistoryLimit": 0}
    create(apiserver, md)
    converged(apiserver)
    serve_pods(apiserver, "v1", 1)
    add_pod(apiserver, "quickstart-v1-x", OOM)
    apiserver.request("DELETE", f"{SERVICES}/quickstart")
    spec = copy.deepcopy(md["spec"])
    spec["model"]["version"] = "2"
    patch_md(apiserver, "quickstart", {"spec": spec})
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v2"), what="v2")
    serve_pods(apiserver, "v2", 1)
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 0, what="v1 at 0")
    remove_pods(apiserver, "v1")
    wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1") is None, what="v1 pruned (no history kept)")
    declared = {(p.api_group, p.resource, v) for p in PERMISSIONS if p.only in (None, "cluster") for v in p.verbs}
    used = {perm for r in apiserver.operator_requests() if (perm := _permission(*r))}
    assert used - declared == set(), "the chart's RBAC (generated from PERMISSIONS) would refuse these"
    assert {("apps", "deployments", "delete"), ("serving.modeldeploy.io", "modeldeployments/status", "patch"),
            ("", "events", "create"), ("", "pods", "watch")} <= used


def test_a_rotated_api_key_rolls_the_pods(apiserver, operator_process):
    """spec.auth: the Secret's new value reaches the pod template (within a resync), so new pods get the key."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "model-key", "namespace": NS},
              "data": {"api-key": "b2xkLWtleQ=="}}
    code, body = apiserver.request("POST", f"/api/v1/namespaces/{NS}/secrets", secret)
    assert code == 201, body
    md = quickstart()
    md["spec"]["auth"] = {"apiKeySecret": "model-key"}
    create(apiserver, md)
    converged(apiserver)
    first = apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["template"]["metadata"]["annotations"]
    assert first.get("serving.modeldeploy.io/api-key-revision"), "the key's revision is in the template"
    assert "b2xkLWtleQ" not in json.dumps(apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")), "never the key itself"
    code, _ = apiserver.request("PATCH", f"/api/v1/namespaces/{NS}/secrets/model-key",
                                {"data": {"api-key": "bmV3LWtleQ=="}}, MERGE)
    assert code == 200
    rolled = wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1-2"), timeout=30,
                      what="a new revision for the new key")
    second = rolled["spec"]["template"]["metadata"]["annotations"]["serving.modeldeploy.io/api-key-revision"]
    assert second != first["serving.modeldeploy.io/api-key-revision"]


@pytest.mark.parametrize("ask, secret_data, reason, words", [
    ({"model": {"uri": "s3://models/quickstart/", "storage": {"endpoint": "https://minio.ml:9000",
                                                               "credentialsSecret": "s3-reader"}}},
     None, "SecretNotFound", "spec.model.storage.credentialsSecret: Secret s3-reader is not in namespace ml"),
    ({"auth": {"apiKeySecret": "s3-reader"}}, {"api-key": base64.b64encode(b"filekey123\n").decode()},
     "ApiKeyInvalid", "no HTTP header can carry it"),
])
def test_a_secret_the_pods_cannot_use_is_named_in_degraded(apiserver, operator_process, ask, secret_data, reason,
                                                          words):
    """A pod that cannot mount a missing Secret only waits (the kubelet says why in Events alone); a key
    read with `--from-file` keeps its newline, which no client can send: the ModelDeployment says which."""
    if secret_data is not None:
        code, body = apiserver.request("POST", f"/api/v1/namespaces/{NS}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-reader", "namespace": NS},
            "data": secret_data})
        assert code == 201, body
    md = quickstart()
    for section, fields in ask.items():
        md["spec"][section] = {**md["spec"].get(section, {}), **fields}
    create(apiserver, md)
    degraded = wait_for(lambda: (c := condition(md_of(apiserver), "Degraded")) and c["status"] == "True" and c,
                        what=f"Degraded {reason}")
    assert degraded["reason"] == reason and words in degraded["message"], degraded
    assert "filekey123" not in json.dumps(md_of(apiserver)), "never the key itself"
    if secret_data is None:  # created: the pods can start, and the condition clears within a resync
        code, body = apiserver.request("POST", f"/api/v1/namespaces/{NS}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-reader", "namespace": NS},
            "data": {"AWS_ACCESS_KEY_ID": "eA==", "AWS_SECRET_ACCESS_KEY": "eQ=="}})
        assert code == 201, body
        wait_for(lambda: condition(md_of(apiserver), "Degraded")["status"] == "False", timeout=15,
                 what="Degraded cleared once the Secret exists")
