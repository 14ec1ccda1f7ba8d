"""The loopback cluster itself: does each part behave as its counterpart in a real cluster?

Workloads are python http.server pods (support/cluster/fixtures.py), so every
test runs real processes, real probes and real TCP through Services in about
a second or two, without Triton.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from support.cluster import OrphanProcesses, kubectl_status
from support.cluster.api import resource_path
from support.cluster.fixtures import (NAMESPACE, pod, python_container, web_deployment, web_pod_spec,
                                      web_service)
from support.cluster.objects import condition
from support.cluster.polling import Poller

pytestmark = pytest.mark.harness

DEPLOYMENTS = resource_path("apps/v1/deployments", NAMESPACE)
PODS = resource_path("v1/pods", NAMESPACE)
NAME = re.compile(r"^web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$")


@pytest.fixture
def bare(make_cluster):
    """A cluster without the operator, fast crash-loop back-off."""
    return make_cluster(operator=False, backoff_seconds=0.3)


def deployment(cluster, name: str = "web") -> dict:
    return cluster.api.get(f"{DEPLOYMENTS}/{name}")


def raw_pod(cluster, name: str) -> dict | None:
    return cluster.api.get(f"{PODS}/{name}")


def statuses(cluster, name: str, kind: str = "containerStatuses") -> list[dict]:
    """The pod's container (or init container) statuses, [] while it has none."""
    return ((raw_pod(cluster, name) or {}).get("status") or {}).get(kind) or []


def waiting_reason(cluster, name: str, reason: str) -> dict | None:
    found = statuses(cluster, name)
    waiting = found and found[0]["state"].get("waiting")
    return waiting if waiting and waiting.get("reason") == reason else None


def rolled_out(cluster, name: str = "web", replicas: int | None = None):
    def check():
        dep = deployment(cluster, name)
        status = dep.get("status") or {}
        want = dep["spec"]["replicas"] if replicas is None else replicas
        progressing = condition(dep, "Progressing")
        return status.get("observedGeneration") == dep["metadata"]["generation"] and \
            status.get("updatedReplicas", 0) == status.get("readyReplicas", 0) == status.get("replicas", 0) == want \
            and progressing and progressing["reason"] == "NewReplicaSetAvailable" and dep
    return cluster.wait(check, timeout=30, what=f"{name} rolled out")


def get_text(address: str, path: str, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout) as response:
        return response.read().decode()


def volume_file(cluster, pod_name: str, volume: str, path: str) -> Path:
    return cluster.kubelet.worker(NAMESPACE, pod_name).sandbox.volumes[volume] / path


class Sampler(Poller):
    """Polls the pods of a Deployment from the API while a rollout runs: what a watcher would have seen."""

    def __init__(self, cluster, app: str):
        super().__init__(every=0.05)
        self.cluster, self.app = cluster, app
        self.samples: list[list[dict]] = []

    def poll(self) -> None:
        self.samples.append([p for p in self.cluster.api.items(PODS)
                             if p["metadata"]["labels"].get("app") == self.app])


def alive(process: psutil.Process) -> bool:
    """Running, not merely a zombie its new parent has not reaped yet (SIGKILL lands asynchronously)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ready(p: dict) -> bool:
    return bool(condition(p, "Ready") and condition(p, "Ready")["status"] == "True")


# -- Deployment controller ---------------------------------------------------------------------------

def test_deployment_pods_are_named_labelled_owned_addressed_and_counted(bare):
    created = bare.apply(web_deployment(replicas=2))
    dep = rolled_out(bare)
    pods = [p for p in bare.api.items(PODS)]
    assert len(pods) == 2
    for p in pods:
        assert NAME.match(p["metadata"]["name"]), p["metadata"]["name"]
        labels = p["metadata"]["labels"]
        assert labels["app"] == "web" and p["metadata"]["name"].startswith(f"web-{labels['pod-template-hash']}-")
        assert p["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                     "uid": created["metadata"]["uid"], "controller": True,
                                                     "blockOwnerDeletion": True}]
        assert p["status"]["podIP"].startswith(f"127.{bare.addresses.octet}.")
        assert p["spec"]["nodeName"] == "harness-node" and p["status"]["phase"] == "Running"
        assert get_text(f"{p['status']['podIP']}:8080", "/whoami") == p["metadata"]["name"]
    assert len({p["status"]["podIP"] for p in pods}) == 2
    status = dep["status"]
    assert {k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")} == \
        dict.fromkeys(("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"), 2)
    assert "unavailableReplicas" not in status, "zero counts are omitted, as the API server does"
    assert condition(dep, "Available")["reason"] == "MinimumReplicasAvailable"
    template_hash = pods[0]["metadata"]["labels"]["pod-template-hash"]
    assert condition(dep, "Progressing")["message"] == f'ReplicaSet "web-{template_hash}" has successfully progressed.'


@pytest.mark.parametrize("surge, unavailable", [(1, 0), (0, 1)])
def test_a_rolling_update_stays_within_max_surge_and_max_unavailable(bare, surge, unavailable):
    bare.apply(web_deployment(replicas=2, strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": surge, "maxUnavailable": unavailable}}))
    before = rolled_out(bare)
    old_hash = bare.api.items(PODS)[0]["metadata"]["labels"]["pod-template-hash"]
    changed = web_deployment(replicas=2, strategy=before["spec"]["strategy"])
    changed["spec"]["template"]["metadata"]["annotations"] = {"edit": "2"}
    with Sampler(bare, "web") as sampler:
        bare.apply(changed)
        after = rolled_out(bare)
    assert after["metadata"]["generation"] == 2
    hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in bare.api.items(PODS) if
              not p["metadata"].get("deletionTimestamp")}
    assert len(hashes) == 1 and hashes != {old_hash}
    active = [len([p for p in s if not p["metadata"].get("deletionTimestamp")]) for s in sampler.samples]
    serving = [len([p for p in s if ready(p) and not p["metadata"].get("deletionTimestamp")])
               for s in sampler.samples]
    assert max(active) <= 2 + surge, active
    assert min(serving) >= 2 - unavailable, serving
    assert max(active) == 2 + surge or min(serving) == 2 - unavailable, "the rollout used its budget"


def test_recreate_stops_every_old_pod_before_a_new_one_starts(bare):
    bare.apply(web_deployment(replicas=2, strategy={"type": "Recreate"}))
    rolled_out(bare)
    changed = web_deployment(replicas=2, strategy={"type": "Recreate"})
    changed["spec"]["template"]["metadata"]["annotations"] = {"edit": "2"}
    with Sampler(bare, "web") as sampler:
        bare.apply(changed)
        rolled_out(bare)
    mixed = [s for s in sampler.samples if len({p["metadata"]["labels"]["pod-template-hash"] for p in s}) > 1]
    assert mixed == [], "old pods (terminating included) never overlap with new ones"


def test_scale_down_removes_the_not_ready_pod_first_and_scale_up_adds(bare):
    bare.apply(web_deployment(replicas=3))
    rolled_out(bare)
    victim = sorted(p["metadata"]["name"] for p in bare.api.items(PODS))[1]
    volume_file(bare, victim, "srv", "ready").unlink()
    bare.wait(lambda: not ready(raw_pod(bare, victim)), timeout=10, what="victim unready")
    code, scale = bare.api.request("PATCH", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 2}},
                                   "application/merge-patch+json")
    assert code == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
    bare.wait(lambda: raw_pod(bare, victim) is None, timeout=15, what="victim deleted")
    rolled_out(bare, replicas=2)
    assert len(bare.api.items(PODS)) == 2
    bare.api.request("PATCH", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 4}}, "application/merge-patch+json")
    rolled_out(bare, replicas=4)


def test_no_progress_within_the_deadline_is_progress_deadline_exceeded(bare):
    stuck = web_deployment(replicas=1, progressDeadlineSeconds=1)
    stuck["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["test", "-f", "/srv/never"]}, "periodSeconds": 1}
    bare.apply(stuck)
    dep = bare.wait(lambda: (d := deployment(bare)) and (c := condition(d, "Progressing"))
                    and c["status"] == "False" and d, timeout=20, what="deadline exceeded")
    progressing = condition(dep, "Progressing")
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    assert progressing["message"].endswith("has timed out progressing.")
    assert condition(dep, "Available")["reason"] == "MinimumReplicasUnavailable"


# -- garbage collection ------------------------------------------------------------------------------

def test_deleting_an_owner_deletes_its_dependents_transitively(bare):
    owner = {"apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment",
             "metadata": {"name": "owner", "namespace": NAMESPACE}, "spec": {"replicas": 1}}
    created = bare.apply(owner)
    ref = {"apiVersion": owner["apiVersion"], "kind": "ModelDeployment", "name": "owner",
           "uid": created["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    dep = web_deployment(replicas=2)
    dep["metadata"]["ownerReferences"] = [ref]
    service = web_service()
    service["metadata"]["ownerReferences"] = [ref]
    bare.apply(dep)
    bare.apply(service)
    rolled_out(bare)
    processes = [psutil.Process(w.apps[0]._process.pid) for w in bare.kubelet.workers.values()]
    bare.delete("serving.modeldeploy.io/v1alpha1/modeldeployments", "owner")
    bare.wait(lambda: deployment(bare) is None and bare.api.get(resource_path("v1/services", NAMESPACE, "web")) is None
              and not bare.api.items(PODS), timeout=30, what="dependents collected")
    bare.wait(lambda: not any(map(alive, processes)), timeout=3, what="the pods' processes gone")


# -- kubelet -----------------------------------------------------------------------------------------

def test_init_containers_run_in_order_and_a_failure_reads_as_the_kubelet_reports_it(bare):
    spec = {"initContainers": [
        python_container("first", "open('/work/order', 'a').write('first ')",
                         volumeMounts=[{"name": "work", "mountPath": "/work"}]),
        python_container("second", "import sys\nopen('/work/order', 'a').write('second ')\n"
                         "print('progress...', flush=True)\nprint('second: the model is not there', file=sys.stderr)\n"
                         "sys.exit(3)", terminationMessagePolicy="FallbackToLogsOnError",
                         volumeMounts=[{"name": "work", "mountPath": "/work"}]),
    ], "containers": [python_container("app", "import time; time.sleep(60)")],
        "volumes": [{"name": "work", "emptyDir": {}}]}
    bare.apply(pod("init", spec))
    first = bare.wait(lambda: (p := raw_pod(bare, "init")) and len(s := (p.get("status") or {}).get(
        "initContainerStatuses") or []) > 1 and "terminated" in s[1]["state"] and p,
        timeout=15, what="second init container failed")
    failed = first["status"]["initContainerStatuses"][1]["state"]["terminated"]
    assert failed["exitCode"] == 3 and failed["reason"] == "Error"
    assert failed["message"].splitlines()[-1] == "second: the model is not there"
    assert first["status"]["phase"] == "Pending" and kubectl_status(first) == "Init:Error"
    assert first["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert first["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    looping = bare.wait(lambda: (p := raw_pod(bare, "init")) and len(s := (p.get("status") or {}).get(
        "initContainerStatuses") or []) > 1 and s[1]["restartCount"] >= 2 and "waiting" in s[1]["state"] and p,
        timeout=20, what="crash loop")
    second = looping["status"]["initContainerStatuses"][1]
    assert second["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "back-off" in second["state"]["waiting"]["message"]
    assert second["lastState"]["terminated"]["exitCode"] == 3
    assert kubectl_status(looping) == "Init:CrashLoopBackOff"
    order = volume_file(bare, "init", "work", "order").read_text().split()
    assert order[:2] == ["first", "second"] and "first" not in order[1:], "the first one is not run again"


def test_env_downward_api_secrets_configmaps_volumes_and_var_expansion(bare):
    bare.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": NAMESPACE},
                "data": {"token": "czNjcjN0", "ca.crt": "Q0EgZGF0YQ=="}})
    bare.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": NAMESPACE},
                "data": {"level": "debug", "config.pbtxt": "name: \"m\""}})
    script = ("import json, os, sys\nreport = {'env': dict(os.environ), 'argv': sys.argv[1:], 'cwd': os.getcwd(),\n"
              "  'config': open('/etc/conf/m/config.pbtxt').read(), 'ca': open('/var/run/creds/ca.crt').read(),\n"
              "  'tmp': os.environ['TMPDIR']}\n"
              "open('/dev/termination-log', 'w').write(json.dumps(report))")
    container = python_container("report", script, args=["$(TOKEN)", "$$(TOKEN)", "$(MISSING)", "/etc/conf/m"], env=[
        {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "level"}}},
        {"name": "WHO", "value": "$(NAME).$(NS)"},
        {"name": "CONFIG_DIR", "value": "/etc/conf/m"},
    ], volumeMounts=[{"name": "conf", "mountPath": "/etc/conf/m"}, {"name": "creds", "mountPath": "/var/run/creds"},
                     {"name": "tmp", "mountPath": "/tmp"}])
    spec = {"restartPolicy": "Never", "containers": [container], "volumes": [
        {"name": "conf", "configMap": {"name": "conf", "items": [{"key": "config.pbtxt", "path": "config.pbtxt"}]}},
        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o440}},
        {"name": "tmp", "emptyDir": {}}]}
    manifest = pod("envy", spec)
    manifest["metadata"]["labels"] = {"team": "vision"}
    created = bare.apply(manifest)
    done = bare.wait(lambda: (p := raw_pod(bare, "envy")) and p.get("status", {}).get("phase") == "Succeeded" and p,
                     timeout=15, what="report written")
    report = json.loads(done["status"]["containerStatuses"][0]["state"]["terminated"]["message"])
    env = report["env"]
    assert (env["UID"], env["NAME"], env["NS"], env["TEAM"]) == (created["metadata"]["uid"], "envy", NAMESPACE, "vision")
    assert env["IP"] == done["status"]["podIP"] and env["WHO"] == f"envy.{NAMESPACE}"
    assert env["TOKEN"] == "s3cr3t" and env["LEVEL"] == "debug"
    assert report["argv"][:3] == ["s3cr3t", "$(TOKEN)", "$(MISSING)"]
    assert report["argv"][3] == env["CONFIG_DIR"] != "/etc/conf/m", "in-pod paths are rewritten to the volume"
    assert report["config"] == 'name: "m"' and report["ca"] == "CA data"
    assert Path(report["tmp"]).name == "tmp" and "volumes" in report["tmp"], "TMPDIR is the mounted /tmp"
    assert "MODELDEPLOY_HARNESS" in env and "KUBECONFIG" not in env, "a container does not inherit the node's env"


def test_a_missing_secret_is_create_container_config_error(bare):
    container = python_container("app", "pass", env=[
        {"name": "T", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "token"}}}])
    bare.apply(pod("lacking", {"containers": [container]}))
    waiting = bare.wait(lambda: waiting_reason(bare, "lacking", "CreateContainerConfigError"), timeout=10,
                        what="CreateContainerConfigError")
    assert waiting["message"] == 'secret "nope" not found'


def test_an_unknown_image_cannot_be_pulled(bare):
    bare.apply(pod("pull", {"containers": [{"name": "app", "image": "registry.example/nothing:1"}]}))
    waiting = bare.wait(lambda: waiting_reason(bare, "pull", "ImagePullBackOff"), timeout=10, what="ImagePullBackOff")
    assert "registry.example/nothing:1" in waiting["message"]


def test_a_crashing_container_restarts_with_back_off_and_shows_its_last_exit(bare):
    script = "import sys; print('loading', flush=True); print('boom: out of luck', file=sys.stderr); sys.exit(2)"
    bare.apply(pod("crash", {"containers": [python_container("app", script,
                                                             terminationMessagePolicy="FallbackToLogsOnError")]}))
    looping = bare.wait(lambda: (p := raw_pod(bare, "crash")) and (s := (p.get("status") or {}).get("containerStatuses"))
                        and s[0]["restartCount"] >= 2 and "waiting" in s[0]["state"] and p,
                        timeout=20, what="crash loop")
    status = looping["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert re.match(r"back-off [\d.]+s restarting failed container=app pod=crash_default\(",
                    status["state"]["waiting"]["message"])
    last = status["lastState"]["terminated"]
    assert last["exitCode"] == 2 and last["reason"] == "Error" and last["message"].endswith("boom: out of luck")
    assert looping["status"]["phase"] == "Running" and kubectl_status(looping) == "CrashLoopBackOff"
    assert not ready(looping)


def test_a_failing_liveness_probe_restarts_the_container(bare):
    spec = web_pod_spec()
    spec["containers"][0]["livenessProbe"] = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1,
                                              "failureThreshold": 2}
    bare.apply(pod("alive", spec))
    bare.wait(lambda: ready(raw_pod(bare, "alive") or {"status": {}}), timeout=15, what="ready")
    volume_file(bare, "alive", "srv", "ready").unlink()
    restarted = bare.wait(lambda: (s := statuses(bare, "alive")) and s[0]["restartCount"] >= 1 and s[0], timeout=20,
                          what="restart after liveness failures")
    last = restarted["lastState"]["terminated"]
    assert last["exitCode"] in (0, 143), last  # http.server stopped by SIGTERM


def test_graceful_deletion_prestop_then_sigterm_then_sigkill_and_nothing_left(make_cluster, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    cluster = make_cluster(operator=False, volumes={"evidence": evidence})
    stubborn = ("import os, signal, subprocess, sys, time\n"
                "subprocess.Popen(['sleep', '600'])  # a child in the container's group\n"
                "def term(*_):\n    open(f'/evidence/{sys.argv[1]}', 'a').write(f'TERM {time.time()}\\n')\n"
                "signal.signal(signal.SIGTERM, term)\nopen('/evidence/started-' + sys.argv[1], 'w').write('')\n"
                "while True: time.sleep(1)")
    mount = [{"name": "evidence", "mountPath": "/evidence"}]
    spec = {"terminationGracePeriodSeconds": 3, "containers": [
        python_container("hook", stubborn, args=["hook"], volumeMounts=mount, lifecycle={"preStop": {"exec": {
            "command": ["python3", "-c", "import time; open('/evidence/hook', 'a').write(f'PRESTOP {time.time()}\\n')"]
        }}}),
        python_container("sleeper", stubborn, args=["sleeper"], volumeMounts=mount,
                         lifecycle={"preStop": {"sleep": {"seconds": 1}}}),
    ], "volumes": [{"name": "evidence", "persistentVolumeClaim": {"claimName": "evidence"}}]}
    cluster.apply(pod("graceful", spec))
    cluster.wait(lambda: (evidence / "started-hook").exists() and (evidence / "started-sleeper").exists(),
                 timeout=15, what="both containers started")
    group = [p for w in cluster.kubelet.workers.values() for r in w.apps
             for p in [psutil.Process(r._process.pid), *psutil.Process(r._process.pid).children(recursive=True)]]
    assert len(group) == 4
    deleted_at = time.time()
    cluster.delete("v1/pods", "graceful")
    terminating = raw_pod(cluster, "graceful")
    assert terminating["metadata"]["deletionTimestamp"] and terminating["metadata"]["deletionGracePeriodSeconds"] == 3
    cluster.wait(lambda: raw_pod(cluster, "graceful") is None, timeout=15, what="pod removed by the kubelet")
    gone_at = time.time()
    hook = (evidence / "hook").read_text().split()
    assert hook[0] == "PRESTOP" and hook[2] == "TERM" and float(hook[1]) <= float(hook[3])
    sleeper = (evidence / "sleeper").read_text().split()
    assert float(sleeper[1]) - deleted_at >= 0.9, "SIGTERM only after the preStop sleep"
    assert 3 <= gone_at - deleted_at < 8, "SIGKILL once the grace period is over, then removed"
    cluster.wait(lambda: not any(alive(p) for p in group), timeout=3, what="no process of the pod left")


def test_teardown_fails_when_a_process_escapes_its_pod(make_cluster):
    cluster = make_cluster(operator=False)
    escape = "import subprocess; subprocess.Popen(['setsid', 'sleep', '600']); import time; time.sleep(600)"
    cluster.apply(pod("escape", {"containers": [python_container("app", escape)]}))
    cluster.wait(lambda: (raw_pod(cluster, "escape") or {}).get("status", {}).get("phase") == "Running", timeout=10,
                 what="running")
    time.sleep(0.5)
    with pytest.raises(OrphanProcesses, match="sleep 600"):
        cluster.close()


# -- scheduler ---------------------------------------------------------------------------------------

def test_pods_beyond_free_gpus_or_pod_capacity_stay_pending_unschedulable(make_cluster):
    cluster = make_cluster(operator=False, gpus=1, max_pods=2)
    gpu = web_deployment("gpu", replicas=2)
    gpu["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    cluster.apply(gpu)

    def pending_message(app: str):
        pods = [p for p in cluster.api.items(PODS) if p["metadata"]["labels"]["app"] == app]
        stuck = [p for p in pods if (c := condition(p, "PodScheduled")) and c["status"] == "False"]
        return stuck and (condition(stuck[0], "PodScheduled"), stuck[0])
    scheduled, stuck = cluster.wait(lambda: pending_message("gpu"), timeout=10, what="an unschedulable pod")
    assert scheduled["reason"] == "Unschedulable"
    assert scheduled["message"] == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert stuck["status"]["phase"] == "Pending" and not stuck["spec"].get("nodeName")
    cluster.apply(web_deployment("cpu", replicas=2))
    scheduled, _ = cluster.wait(lambda: pending_message("cpu"), timeout=10, what="a pod over capacity")
    assert scheduled["message"] == "0/1 nodes are available: 1 Too many pods."
    # The GPU frees up when its pod is gone: the pending GPU pod is bound next.
    cluster.api.request("PATCH", f"{DEPLOYMENTS}/cpu/scale", {"spec": {"replicas": 0}}, "application/merge-patch+json")
    cluster.api.request("PATCH", f"{DEPLOYMENTS}/gpu/scale", {"spec": {"replicas": 1}}, "application/merge-patch+json")
    rolled_out(cluster, "gpu", replicas=1)


# -- kube-proxy and the gateway ----------------------------------------------------------------------

def test_a_service_balances_connections_over_ready_pods_and_follows_endpoints_after_the_delay(make_cluster):
    delay = 0.6
    cluster = make_cluster(operator=False, endpoint_delay_seconds=delay)
    cluster.apply(web_deployment(replicas=2))
    cluster.apply(web_service())
    rolled_out(cluster)
    service = cluster.api.get(resource_path("v1/services", NAMESPACE, "web"))
    assert service["spec"]["clusterIP"].startswith(f"127.{cluster.addresses.octet}.")
    address = cluster.service_address("web")
    time.sleep(delay + 0.3)
    names = [get_text(address, "/whoami") for _ in range(4)]
    assert names[0] != names[1] and names[:2] == names[2:], "round-robin per connection"
    victim = names[0]
    volume_file(cluster, victim, "srv", "ready").unlink()
    cluster.wait(lambda: not ready(raw_pod(cluster, victim)), timeout=10, what="unready in the API")
    unready_at = time.monotonic()
    last_seen = unready_at
    while time.monotonic() - unready_at < delay + 1.0:
        if get_text(address, "/whoami") == victim:
            last_seen = time.monotonic()
    assert 0.5 * delay <= last_seen - unready_at <= delay + 1.5, "endpoints change after the delay, not before"
    cluster.api.request("PATCH", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 0}}, "application/merge-patch+json")
    cluster.wait(lambda: not cluster.api.items(PODS), timeout=15, what="no pods")
    time.sleep(delay + 0.3)
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        get_text(address, "/whoami")


def test_an_httproute_splits_requests_by_weight_exactly(bare):
    for app in ("blue", "green"):
        bare.apply(web_deployment(app, replicas=1))
        bare.apply(web_service(app))
        rolled_out(bare, app)
    bare.apply({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": "split", "namespace": NAMESPACE},
                "spec": {"rules": [{"backendRefs": [{"name": "blue", "port": 80, "weight": 1},
                                                    {"name": "green", "port": 80, "weight": 3}]}]}})
    host, port = bare.route_address("split").split(":")
    time.sleep(bare.settings.endpoint_delay_seconds + 0.2)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)  # one connection: split per request
    answers = []
    for _ in range(40):
        connection.request("GET", "/whoami")
        answers.append(connection.getresponse().read().decode().split("-")[0])
    connection.close()
    assert answers.count("blue") == 10 and answers.count("green") == 30
    assert answers[:4].count("blue") == 1, "interleaved, not in runs"


@pytest.mark.parametrize("pre_stop, dropped", [(None, True), ({"sleep": {"seconds": 1}}, False)])
def test_scale_in_drops_connections_unless_a_prestop_pause_covers_the_endpoint_delay(make_cluster, pre_stop, dropped):
    cluster = make_cluster(operator=False, endpoint_delay_seconds=0.5)
    dep = web_deployment(replicas=3)
    if pre_stop:
        dep["spec"]["template"]["spec"]["containers"][0]["lifecycle"] = {"preStop": pre_stop}
    cluster.apply(dep)
    cluster.apply(web_service())
    rolled_out(cluster)
    address = cluster.service_address("web")
    time.sleep(0.8)
    results: list[bool] = []
    stop = threading.Event()

    def client() -> None:  # a new connection per request, as many short-lived clients make
        while not stop.is_set():
            try:
                results.append(bool(get_text(address, "/whoami", timeout=2)))
            except OSError:
                results.append(False)
    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        cluster.api.request("PATCH", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 1}},
                            "application/merge-patch+json")
        cluster.wait(lambda: len(cluster.api.items(PODS)) == 1, timeout=15, what="scaled in")
        time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert results.count(True) > 50
    assert (results.count(False) > 0) == dropped, f"{results.count(False)} of {len(results)} requests failed"
