"""The builtin autoscaler on a real serving path: the operator's own process scrapes real Triton pods.

The model (support/paced_model.py) takes a fixed 50 ms per request, one at a
time: a pod completes at most 20 requests a second and its queue is
deterministic. Load comes through the Service (tritonclient,
support/cluster/load.py) from clients that send a request, wait for the
answer, think 0.6 s and send the next, each on a new connection (so
kube-proxy spreads requests as an L7 balancer would). Their number rises
1 → 5 → 10 → 17 (LEVELS): 10 clients queue well under the 150 ms target, 17
saturate one pod and queue about 200 ms, and on two pods they use two thirds
of each with little queue. (Clients that never pause keep every pod busy
however many there are: see "Closed-loop load" in docs/autoscaling.md.)

The test reads the pod's /metrics itself, every 0.1 s, to know when the queue
crossed the target, and the emulated API server's write log to know when the
operator wrote /scale.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
from pathlib import Path

import numpy as np
import pytest

from modeldeploy.timestamps import epoch as parse_time
from modeldeploy.clients.triton_metrics import scrape
from modeldeploy_runtime.triton_process import prepare_backends, triton_home
from support.cluster import infer
from support.cluster.kubelet.images import TRITON_IN_IMAGE, TritonImage
from support.cluster.polling import Poller
from support.operator_process import MD_PATH, OperatorProcess, writes_in
from support.paced_model import (LEVELS, MODEL, SCALE_DOWN_DELAY, SECONDS, STABLE_WINDOW, TARGET_MS, THINK_SECONDS,
                                make_paced_model, paced_deployment)
from support.triton_watch import QueueWatch

pytestmark = pytest.mark.harness

STEP_SECONDS = 2.0  # how long each concurrency level runs before the next
ROW = np.arange(4, dtype=np.float32).reshape(1, 4)
INPUTS = {"INPUT__0": ROW}
OUTPUTS = ["OUTPUT__0"]
SCALE_PATH = f"{MD_PATH.format(ns='default')}/{MODEL}/scale"
PEERING = "/apis/kopf.dev/v1/clusterkopfpeerings"


def doubled(outputs: dict[str, np.ndarray]) -> bool:
    return np.array_equal(outputs["OUTPUT__0"], ROW * 2)


@pytest.fixture(scope="module")
def paced_root(runtime_image_root: Path) -> Path:
    """The runtime image with the paced model baked in beside the quickstart."""
    make_paced_model(runtime_image_root)
    return runtime_image_root


class StatusWatch(Poller):
    """spec.replicas and status.autoscaling of the ModelDeployment as they change, polled by the test."""

    def __init__(self, cluster, every: float = 0.2):
        super().__init__(every)
        self.cluster = cluster
        self.seen: list[tuple[float, int, dict | None]] = []

    def poll(self) -> None:
        md = self.cluster.md(MODEL)
        if md:
            entry = (md["spec"].get("replicas"), (md.get("status") or {}).get("autoscaling"))
            if not self.seen or self.seen[-1][1:] != entry:
                self.seen.append((time.monotonic(), *entry))

    def statuses(self) -> list[dict]:
        return [s for _, _, s in self.seen if s]

    def __str__(self) -> str:
        """The history, for a failing assertion: seconds, spec.replicas, the status' reason and message."""
        start = self.seen[0][0] if self.seen else 0.0
        return "\n".join(f"{t - start:6.1f}s replicas={r} {(s or {}).get('reason')}: {(s or {}).get('message')}"
                         for t, r, s in self.seen)


def scale_writes(cluster) -> list[float]:
    """When /scale of the ModelDeployment was written (the emulated API server's own log)."""
    return [at for method, path, at in cluster.api.write_log() if method == "PATCH" and path == SCALE_PATH]


def wait_served(cluster, address: str, timeout: float = 30.0) -> None:
    """The Service answers: its endpoints follow the pod's readiness after kube-proxy's delay."""
    import tritonclient.http as triton_http  # noqa: PLC0415

    def answers() -> bool:
        client = triton_http.InferenceServerClient(address, connection_timeout=2, network_timeout=5)
        try:
            return doubled(infer(client, "http", MODEL, INPUTS, OUTPUTS)[1])
        except Exception:  # noqa: BLE001 - refused until the endpoints are there
            return False
        finally:
            client.close()
    cluster.wait(answers, timeout=timeout, what="the Service answering")


def triton_success(ip: str) -> float:
    return scrape(ip, MODEL, timeout=2.0).success


def events(cluster, reason: str) -> list[dict]:
    return [e for e in cluster.api.items("/api/v1/namespaces/default/events")
            if e.get("reason") == reason and e["involvedObject"]["name"] == MODEL]


def test_builtin_autoscaler_scales_up_within_5s_of_the_queue_crossing_its_target_and_back_down(
        make_cluster, paced_root, record_property):
    cluster = make_cluster(runtime_image_root=paced_root)
    md = paced_deployment()
    # Two pods carry the top load with room to spare; a third could only come from a machine too busy to
    # run the model at its own speed, which would measure the machine, not the autoscaler.
    md["spec"]["autoscaling"]["maxReplicas"] = 2
    cluster.apply(md)
    cluster.wait_for_condition(MODEL, "Ready", timeout=120)
    (first,) = cluster.pods()
    address = cluster.service_address(MODEL, "http")
    wait_served(cluster, address)

    loads = []
    queue = QueueWatch(lambda: scrape(first.ip, MODEL, timeout=1.0))
    with contextlib.ExitStack() as running, StatusWatch(cluster) as status, queue:
        def start(concurrency: int):
            load = cluster.load(address, MODEL, INPUTS, OUTPUTS, concurrency=concurrency, check=doubled,
                                pause=THINK_SECONDS, requests_per_connection=1)
            loads.append(load)
            running.enter_context(load)
            return load

        # The first client stays for the whole run (it is there when the extra pod leaves); more join.
        *under, over = LEVELS
        trickle = start(under[0])
        heavy = []
        for before, level in itertools.pairwise(under):
            time.sleep(STEP_SECONDS)
            heavy.append(start(level - before))
        time.sleep(STEP_SECONDS)
        below = queue.queue_ms(time.monotonic() - STEP_SECONDS / 2, time.monotonic())
        assert scale_writes(cluster) == [], f"scaled below the target (queue {below} ms)"
        stepped = time.monotonic()
        heavy.append(start(over - under[-1]))
        cluster.wait(lambda: scale_writes(cluster), timeout=30, what="the autoscaler writing /scale")
        (scaled_up,) = scale_writes(cluster)
        crossed = queue.crossing(TARGET_MS, after=stepped)
        assert crossed is not None and crossed < scaled_up, (crossed, scaled_up)
        reaction = scaled_up - crossed
        above = queue.queue_ms(crossed, scaled_up)
        print(f"\nqueue time {below:.0f} ms at {under[-1]} clients, {above:.0f} ms at {over} (target {TARGET_MS} ms); "
              f"crossing → /scale write: {reaction:.2f}s (load step → write: {scaled_up - stepped:.2f}s)")
        record_property("crossing_to_scale_write_seconds", round(reaction, 2))
        assert reaction <= 5.0, f"/scale written {reaction:.2f}s after the queue crossed the target"

        # The new pod comes up and takes its share of the requests.
        cluster.wait(lambda: len([p for p in cluster.pods() if p.ready]) == 2, timeout=60, what="2 ready pods")
        (second,) = [p for p in cluster.pods() if p.name != first.name]
        wait_served(cluster, f"{second.ip}:8000")
        ready_at = time.monotonic()
        before = {ip: triton_success(ip) for ip in (first.ip, second.ip)}
        time.sleep(STABLE_WINDOW + 1)  # two pods' figures fill the stable window: steady, no further scale-up
        served = {ip: triton_success(ip) - before[ip] for ip in (first.ip, second.ip)}
        share = served[second.ip] / sum(served.values())
        two_pods = queue.queue_ms(ready_at, time.monotonic())
        print(f"two pods: the new one served {served[second.ip]:.0f} of {sum(served.values()):.0f} requests "
              f"({share:.0%}); queue time on the first {two_pods:.0f} ms")
        assert share > 0.25, served
        assert cluster.forwarder(MODEL, "http").connections[(second.ip, 8000)] > 0
        assert len(scale_writes(cluster)) == 1, f"two pods are under target: no further scale\n{status}"

        # The load stops (the trickle goes on): one scale-down, after the delay; the pod leaves losing nothing.
        for load in heavy:
            load.stop()
        stopped = time.monotonic()
        cluster.wait(lambda: len(scale_writes(cluster)) == 2, timeout=60, what="the scale-down write")
        scaled_down = scale_writes(cluster)[1]
        print(f"load stopped → scale-down write: {scaled_down - stopped:.1f}s "
              f"(scaleDownDelay {SCALE_DOWN_DELAY:.0f}s, stableWindow {STABLE_WINDOW:.0f}s)")
        assert scaled_down - stopped >= SCALE_DOWN_DELAY
        cluster.wait(lambda: len(cluster.pods()) == 1, timeout=60, what="back to one pod")
        trickle.wait_for(trickle.report.successes + 5)
    reports = [load.report for load in loads]
    print(f"requests: {sum(r.successes for r in reports)} answered, {sum(r.failures for r in reports)} failed")
    assert [r.failures for r in reports] == [0] * len(reports), [r.errors for r in reports]
    assert [r.wrong for r in reports] == [0] * len(reports)

    # What kubectl shows: spec.replicas went 1 → 2 → 1, status.autoscaling said why, an Event per scale.
    replicas = [r for _, r, _ in status.seen]
    assert [k for k, _ in itertools.groupby(replicas)] == [1, 2, 1], str(status)
    up = next(s for s in status.statuses() if s.get("desiredReplicas") == 2)
    assert up["engine"] == "builtin" and up["metric"] == "queueTime" and up["target"] == f"{TARGET_MS}ms"
    assert re.fullmatch(r"\d+(\.\d)?ms", up["currentValue"]) and up["reason"] in ("ScaleUp", "Steady"), up
    assert up["mode"] == "Panic", up
    assert abs(parse_time(up["lastScaleTime"]) - (time.time() - (time.monotonic() - scaled_up))) < 2.0, up
    # What one saturated pod completes, learnt while over target: the model's own 1 / 50 ms.
    learnt = [st["capacityPerReplica"] for st in status.statuses() if "capacityPerReplica" in st]
    assert learnt and learnt[-1] == pytest.approx(1 / SECONDS, rel=0.2), learnt
    final = status.statuses()[-1]
    assert final["desiredReplicas"] == 1 and final["lastScaleTime"] > up["lastScaleTime"], final
    (scaled_up_event,) = events(cluster, "ScaledUp")
    assert re.fullmatch(rf"scaled 1 → 2: queue time \d+ms > target {TARGET_MS}ms \(panic\)",
                        scaled_up_event["message"]), scaled_up_event
    (scaled_down_event,) = events(cluster, "ScaledDown")
    assert scaled_down_event["message"].startswith("scaled 2 → 1: queue time "), scaled_down_event
    print(f"events: {scaled_up_event['message']!r}, {scaled_down_event['message']!r}")
    assert scale_writes_counted(cluster.operator) == 2


class MetricsClosed(TritonImage):
    """NGC's Triton image run with `--allow-metrics=false` last on its command line: the model serves and
    its probes pass, and nothing listens on the pod's port 8002 (connection refused)."""

    def filesystem(self, scratch: Path, pod_ip: str):
        found = super().filesystem(scratch, pod_ip)
        shim = Path(found.files[TRITON_IN_IMAGE])
        shim.write_text(shim.read_text().rstrip("\n") + " --allow-metrics=false\n")
        return found


CLOSED_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3-metrics-closed"
BLIND = {"tick": "500ms", "panicWindow": "1s", "stableWindow": "2s", "scaleDownDelay": "2s"}


def peered_operators(cluster, stack: contextlib.ExitStack) -> tuple[OperatorProcess, OperatorProcess]:
    """Two operator replicas with kopf peering (priorities 200 and 100): the first is the active one."""
    code, body = cluster.api.request("POST", PEERING, {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                                                       "metadata": {"name": "modeldeploy"}})
    assert code == 201, body
    replicas = []
    for priority in (200, 100):
        replica = OperatorProcess(cluster.api, standalone=False, extra=("--priority", str(priority),
                                                                          "--peering-lifetime", "4"))
        stack.callback(replica.close)
        replicas.append(replica.start())
    return replicas[0], replicas[1]


@pytest.mark.parametrize("metrics", ["closed", "open"])
def test_pods_whose_metrics_cannot_be_read_are_reported_and_left_out_not_counted_idle(
        make_cluster, paced_root, tmp_path, metrics):
    """Two idle pods. Read, they are idle and the autoscaler scales 2 → 1 (the control); with their metrics
    port closed it must say so and scale nothing for longer than the control took. Two peered operator
    replicas run it: the standby's autoscaler decides nothing, whichever case."""
    backends = prepare_backends(triton_home(), tmp_path)
    cluster = make_cluster(runtime_image_root=paced_root, images={"*-metrics-closed": MetricsClosed(backends)},
                           operator=False)
    with contextlib.ExitStack() as stack:
        active, standby = peered_operators(cluster, stack)
        cluster.apply(paced_deployment(replicas=2, image=CLOSED_IMAGE if metrics == "closed" else None, **BLIND))
        cluster.wait(lambda: any(p.ready for p in cluster.pods()), timeout=120, what="a ready pod")
        ready_at = time.monotonic()
        # Read, idle pods go down at the first decision with figures: the panic the autoscaler starts in (at
        # the 2 replicas it found) lasts a stable window from its first tick, over while the pods started. The
        # control scales within a second or two of the first pod being Ready; 5 s is ample.
        waited = 5.0
        if metrics == "open":
            cluster.wait(lambda: scale_writes(cluster), timeout=waited, what="the scale-down of idle pods")
            print(f"\nmetrics open: idle pods scaled 2 → 1 {scale_writes(cluster)[0] - ready_at:.1f}s after the "
                  "first was Ready")
            assert cluster.md(MODEL)["spec"]["replicas"] == 1
            assert scale_writes_counted(active) == 1
        else:
            cluster.wait(lambda: [p.ready for p in cluster.pods()] == [True, True], timeout=60, what="2 ready pods")
            time.sleep(waited)
            assert scale_writes(cluster) == [], "pods that could not be read were taken for idle"
            reported(cluster, active, waited)
        assert "modeldeploy_autoscaler_decisions_total{" not in standby.metrics(), "the standby decided"
        assert writes_in(standby.metrics()) == 0, "the standby wrote"


def scale_writes_counted(operator: OperatorProcess) -> float:
    found = re.search(r'modeldeploy_autoscaler_scale_writes_total\{modeldeployment="paced",namespace="default",'
                      r'outcome="ok"\} (\S+)', operator.metrics())
    return float(found[1]) if found else 0.0


def reported(cluster, operator: OperatorProcess, waited: float) -> None:
    """Status, log and metrics say that the pods could not be read, and nothing else was concluded."""
    md = cluster.md(MODEL)
    assert md["spec"]["replicas"] == 2
    shown = md["status"]["autoscaling"]
    assert (shown["reason"], shown["desiredReplicas"]) == ("NoMetrics", 2), shown
    assert shown["message"] == "2 of 2 ready pods could not be scraped", shown
    assert "currentValue" not in shown, shown
    logs = operator.logs()
    for pod in cluster.pods():
        assert re.search(rf"pod {pod.name} left out of the decision: http://{re.escape(pod.ip)}:8002/metrics: "
                         r".*[Cc]onnection refused", logs), logs[-3000:]
    errors = re.search(r'modeldeploy_autoscaler_scrape_errors_total\{modeldeployment="paced",namespace="default"\} '
                       r"(\S+)", operator.metrics())
    assert errors and float(errors[1]) >= 2 * 4, "two pods a tick, every tick they were Ready"
    print(f"\nmetrics closed: {shown['message']}; {float(errors[1]):.0f} scrape errors counted; no /scale write in "
          f"{waited:.0f}s")
