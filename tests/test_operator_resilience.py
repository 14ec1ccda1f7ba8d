"""The operator against restarts, lost watches and a server that asks it to slow down.

Each test reproduces a failure a reliability review found: acting on a
half-filled cache after a restart, drift the watch never reported, and a
Retry-After that was ignored.
"""

from __future__ import annotations

import http.server
import re
import threading
import time

import pytest

from support.cluster.addresses import AddressBlock
from support.operator_process import OperatorProcess, wait_for
from test_operator import (DEPLOYMENTS, MDS, MERGE, READY, SERVICES, add_pod, converged, create, md_of, quickstart,
                           set_deployment_ready, settle)

pytestmark = pytest.mark.integration

RESTARTS = 20


def synced(op: OperatorProcess) -> bool:
    return bool(re.search(r"^modeldeploy_cache_synced 1\.0$", op.metrics(), re.M))


def operator_writes(api, since: int) -> list:
    return [w for w in api.write_log()[since:]]


def scaled_modeldeployments(api, names: list[str], replicas: int) -> None:
    for name in names:
        md = quickstart(name)
        md["spec"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 8, "metric": "cpu", "target": 70,
                                     "engine": "hpa"}
        create(api, md)
        converged(api, name)
        # What an autoscaler does: write the total through the scale subresource.
        code, body = api.request("PATCH", f"{MDS}/{name}/scale", {"spec": {"replicas": replicas}}, MERGE)
        assert code == 200, body
    for name in names:
        wait_for(lambda: api.get(f"{DEPLOYMENTS}/{name}-v1")["spec"]["replicas"] == replicas,
                 what=f"{name} scaled to {replicas}")
        set_deployment_ready(api, f"{name}-v1")


def test_restarts_change_no_replicas_and_write_nothing(apiserver):
    """20 restarts (SIGTERM and SIGKILL in turn) of an operator with 3 scaled ModelDeployments."""
    names = ["alpha", "beta", "gamma"]
    op = OperatorProcess(apiserver).start()
    try:
        scaled_modeldeployments(apiserver, names, 6)
        settle(apiserver)
        for restart in range(RESTARTS):
            op.kill() if restart % 2 else op.stop()
            before = len(apiserver.write_log())
            op.start()
            wait_for(lambda: synced(op), what="the restarted operator's cache synced")
            written = settle(apiserver, quiet=1.0)[before:]
            assert written == [], f"restart {restart + 1} wrote {written}"
            replicas = {n: apiserver.get(f"{DEPLOYMENTS}/{n}-v1")["spec"]["replicas"] for n in names}
            assert replicas == dict.fromkeys(names, 6), f"restart {restart + 1} changed replicas: {replicas}"
    finally:
        op.close()


class IdleTriton(http.server.BaseHTTPRequestHandler):
    """A pod's Triton /metrics, real Prometheus text: 10 requests/s, 0.2 ms in the queue, nothing pending."""

    started = time.time()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        done = 10 * (time.time() - self.started)
        labels = '{model="quickstart",version="1"}'
        body = "".join(f"{family}{labels} {value}\n" for family, value in (
            ("nv_inference_request_success", done), ("nv_inference_count", done),
            ("nv_inference_exec_count", done), ("nv_inference_request_duration_us", done * 1200),
            ("nv_inference_queue_duration_us", done * 200), ("nv_inference_compute_infer_duration_us", done * 1000),
            ("nv_inference_pending_request_count", 0))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def idle_pod_ips():
    block = AddressBlock()
    servers = []
    for _ in range(4):
        server = http.server.ThreadingHTTPServer((block.pod(), 8002), IdleTriton)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield [server.server_address[0] for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()
    block.close()


def test_restarts_keep_the_builtin_autoscalers_memory_and_write_nothing(apiserver, idle_pod_ips):
    """The builtin engine's status (lastScaleTime, learnt capacity, mode) is what a restarted autoscaler
    rebuilds from: a restart must neither wipe it nor rewrite it, and must not scale."""
    names = ["alpha", "beta"]
    scaling = {"minReplicas": 2, "maxReplicas": 4, "metric": "queueTime", "target": "50ms",
               "builtin": {"tick": "500ms", "panicWindow": "1s", "stableWindow": "3s", "scaleDownDelay": "3s"}}
    op = OperatorProcess(apiserver).start()
    try:
        for k, name in enumerate(names):
            md = quickstart(name)
            md["spec"]["autoscaling"] = scaling
            md["spec"]["replicas"] = 2
            create(apiserver, md)
            wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/{name}-v1"), what=f"{name}'s Deployment")
            for j in range(2):
                add_pod(apiserver, f"{name}-v1-{j}", {**READY, "podIP": idle_pod_ips[2 * k + j]}, md=name)
            set_deployment_ready(apiserver, f"{name}-v1", 2)
        held = {}
        for name in names:
            held[name] = wait_for(lambda: (a := (md_of(apiserver, name).get("status") or {}).get("autoscaling"))
                                  and a.get("currentValue") and a, timeout=30, what=f"{name}'s first decision")
        settle(apiserver, quiet=2.0, timeout=40)
        held = {name: md_of(apiserver, name)["status"]["autoscaling"] for name in names}
        for restart in range(4):
            op.kill() if restart % 2 else op.stop()
            before = len(apiserver.write_log())
            op.start()
            wait_for(lambda: synced(op), what="the restarted operator's cache synced")
            time.sleep(4)  # past the stable window: the restarted autoscaler has decided on fresh data
            written = settle(apiserver, quiet=2.0, timeout=40)[before:]
            assert written == [], f"restart {restart + 1} wrote {written}"
            assert {n: md_of(apiserver, n)["status"]["autoscaling"] for n in names} == held
            assert {n: apiserver.get(f"{DEPLOYMENTS}/{n}-v1")["spec"]["replicas"] for n in names} == \
                dict.fromkeys(names, 2)
    finally:
        op.close()


def test_a_service_taken_over_by_hand_is_taken_back(apiserver, operator_process):
    create(apiserver, quickstart())
    converged(apiserver)
    hijack = {"metadata": {"labels": {"app.kubernetes.io/managed-by": "someone-else"}},
              "spec": {"selector": {"app": "elsewhere"}}}
    code, body = apiserver.request("PATCH", f"{SERVICES}/quickstart", hijack, MERGE)
    assert code == 200, body
    started = time.monotonic()

    def restored():
        svc = apiserver.get(f"{SERVICES}/quickstart")
        return svc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modeldeploy" and \
            "app" not in svc["spec"]["selector"]
    wait_for(restored, timeout=10, what="the Service taken back")
    print(f"hijacked Service repaired in {time.monotonic() - started:.2f}s")


@pytest.mark.parametrize("path, edit, restored", [
    (f"{DEPLOYMENTS}/quickstart-v1", {"spec": {"replicas": 40}},
     lambda obj: obj["spec"]["replicas"] == 1),
    (f"{SERVICES}/quickstart", {"spec": {"selector": {"app": "elsewhere"}}},
     lambda obj: "app" not in obj["spec"]["selector"]),
])
def test_a_child_whose_modeldeployment_label_is_removed_is_still_repaired(apiserver, operator_process, path, edit,
                                                                          restored):
    # Without the label the child names no owner; the operator still knows whose it is (the periodic relist
    # would find it too, but only after --relist-seconds, 10 minutes by default).
    create(apiserver, quickstart())
    converged(apiserver)
    label = "serving.modeldeploy.io/modeldeployment"
    code, body = apiserver.request("PATCH", path, {"metadata": {"labels": {label: None}}, **edit}, MERGE)
    assert code == 200 and label not in body["metadata"]["labels"], body
    wait_for(lambda: (obj := apiserver.get(path))["metadata"]["labels"].get(label) == "quickstart" and restored(obj),
             timeout=10, what="the child relabelled and repaired")


def test_a_child_deleted_while_the_api_was_unreachable_comes_back(apiserver):
    # A long resync: only the watch's own reconnect can tell the operator to look again.
    op = OperatorProcess(apiserver, resync_seconds=300).start()
    try:
        create(apiserver, quickstart())
        converged(apiserver)
        apiserver.outage(3.0)
        code, _ = apiserver.unseen("DELETE", f"{SERVICES}/quickstart")
        assert code == 200 and apiserver.get(f"{SERVICES}/quickstart") is None
        ended = time.monotonic() + 3.0
        try:
            wait_for(lambda: apiserver.get(f"{SERVICES}/quickstart"), timeout=40, what="the Service back")
        except AssertionError:
            print(op.logs()[-6000:])
            raise
        print(f"Service back {time.monotonic() - ended:.2f}s after the API came back")
        assert "relist of services found what the watch missed" in op.logs()
    finally:
        op.close()


def test_a_missed_deletion_converges_on_the_periodic_relist(apiserver):
    op = OperatorProcess(apiserver, resync_seconds=300, extra=("--relist-seconds", "3")).start()
    try:
        create(apiserver, quickstart())
        converged(apiserver)
        started = time.monotonic()
        code, _ = apiserver.unseen("DELETE", f"{SERVICES}/quickstart-metrics")
        assert code == 200
        wait_for(lambda: apiserver.get(f"{SERVICES}/quickstart-metrics"), timeout=10, what="the metrics Service back")
        print(f"missed deletion repaired in {time.monotonic() - started:.2f}s (relist every 3 s)")
        before = len(apiserver.write_log())
        time.sleep(7)  # two more relists: reads only
        assert apiserver.write_log()[before:] == [], "a relist that finds nothing new writes nothing"
    finally:
        op.close()


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_is_honoured(apiserver, operator_process, code):
    apiserver.fail("PATCH", r"/deployments/quickstart-v1$", code, "slow down", retry_after=4)
    create(apiserver, quickstart())
    converged(apiserver)
    attempts = [t for method, path, t in apiserver.write_log() if method == "PATCH" and
                path.endswith("/deployments/quickstart-v1")]
    assert len(attempts) >= 2
    waited = attempts[1] - attempts[0]
    print(f"retried {waited:.2f}s after a {code} with Retry-After: 4")
    assert waited >= 3.9, f"retried after {waited:.2f}s though the server asked for 4s"


def test_an_event_a_busy_api_server_refused_is_posted_at_the_next_pass(apiserver, operator_process):
    events = "/api/v1/namespaces/ml/events"
    apiserver.fail("POST", r"/events$", 429, "slow down", retry_after=1)
    create(apiserver, quickstart())
    told = wait_for(lambda: [e for e in apiserver.items(events) if e["involvedObject"]["name"] == "quickstart"],
                    timeout=15, what="the refused Event posted again")
    assert [e["reason"] for e in told] == ["RollingOut"], "posted once, not once per pass"
    time.sleep(3)
    assert len([e for e in apiserver.items(events) if e["reason"] == "RollingOut"]) == 1

