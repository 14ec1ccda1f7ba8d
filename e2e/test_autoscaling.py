"""The loopback harness's autoscaling scenario (tests/test_harness_autoscaling.py) on a real cluster.

The paced model (tests/support/paced_model.py: 50 ms a request, one at a
time) is served from the namespace like the quickstart in test_serving.py,
by NGC's Triton image; the load is e2e/load_client.py in a pod, so kube-proxy
routes it, rising through the same levels with the same think time. The test
reads the first pod's Triton counters through the API server's pod proxy
every 0.25 s (when the queue crossed the target) and polls spec.replicas
(when /scale was written): both on this machine's clock, so the figure is
the crossing → the write as seen from here, at most a poll late.

The operator runs on this machine (e2e/conftest.py): it must reach the pod
network (kind on Linux: a route to the pod CIDR through the node, as the
workflow adds) to run the smoke gate and to scrape pods.

    MODELDEPLOY_E2E=1 MODELDEPLOY_E2E_RUNTIME_IMAGE=modeldeploy-runtime:e2e .venv/bin/python -m pytest e2e -k autoscal
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from cluster_access import wait_for
from conftest import needs_pod_network
from modeldeploy.clients.triton_metrics import ScrapeError, TritonMetrics, parse
from support.cluster.polling import Poller
from support.paced_model import (LEVELS, MODEL, SCALE_DOWN_DELAY, TARGET_MS, THINK_SECONDS, make_paced_model,
                                 paced_deployment)
from support.triton_watch import QueueWatch
from test_serving import TRITON_IMAGE, last_line, paths, ready_replicas, run_client, serve_model

pytestmark = pytest.mark.e2e

LABELS = f"serving.modeldeploy.io/modeldeployment%3D{MODEL}"
INPUT = {"name": "INPUT__0", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 1.0, 2.0, 3.0]}
STEP_SECONDS = 6  # each level below the target
HEAVY_SECONDS = 120  # over the target: long enough for a second pod to start on a real node


@pytest.fixture(scope="module")
def paced_model(tmp_path_factory) -> Path:
    return make_paced_model(tmp_path_factory.mktemp("paced"))


class ReplicasWatch(Poller):
    """spec.replicas of the ModelDeployment as this machine sees it change."""

    def __init__(self, cluster, namespace: str):
        super().__init__(every=0.25)
        self.path = f"{paths(namespace)['mds']}/{MODEL}"
        self.cluster = cluster
        self.seen: list[tuple[float, int]] = []

    def poll(self) -> None:
        md = self.cluster.get(self.path)
        replicas = md and md["spec"].get("replicas")
        if replicas is not None and (not self.seen or self.seen[-1][1] != replicas):
            self.seen.append((time.monotonic(), replicas))


def pods(cluster, namespace: str) -> list[dict]:
    return cluster.get(f"{paths(namespace)['pods']}?labelSelector={LABELS}")["items"]


def triton(cluster, namespace: str, pod: str) -> TritonMetrics:
    """The pod's Triton figures for the model, read through the API server's pod proxy."""
    path = f"{paths(namespace)['pods']}/{pod}:8002/proxy/metrics"
    try:
        text = cluster.text(path)
    except Exception as err:  # noqa: BLE001 - a read that failed is a gap in the samples, not the end of them
        raise ScrapeError(path, f"{type(err).__name__}: {err}") from None
    return parse(text, MODEL, source=path)


def served(cluster, namespace: str, pod: str) -> float:
    """Requests the pod's Triton answered (0 while it cannot be read)."""
    try:
        return triton(cluster, namespace, pod).success
    except ScrapeError:
        return 0.0


def test_the_builtin_autoscaler_follows_the_queue_of_real_pods(cluster, namespace, operator, paced_model):
    needs_pod_network()
    p = paths(namespace)
    uri = serve_model(cluster, namespace, paced_model)
    md = paced_deployment(namespace=namespace, uri=uri, image=TRITON_IMAGE)
    md["spec"]["runtime"]["resources"] = {"cpu": "250m", "memory": "1Gi"}  # room for three on a small node
    cluster.create(p["mds"], md)
    wait_for(lambda: ready_replicas(cluster, namespace, MODEL) == 1, timeout=900, what="paced Ready (image pull)")
    (first,) = [pod["metadata"]["name"] for pod in pods(cluster, namespace)]

    *under, over = LEVELS
    steps = [f"{level}:{STEP_SECONDS}" for level in under] + [f"{over}:{HEAVY_SECONDS}", f"{under[0]}:120"]
    with ReplicasWatch(cluster, namespace) as replicas, \
            QueueWatch(lambda: triton(cluster, namespace, first), every=0.25) as queue:
        started = time.monotonic()
        run_client(cluster, namespace, "load", TARGET=f"{MODEL}.{namespace}.svc:8000", MODEL=MODEL,
                   INPUT=json.dumps(INPUT), STEPS=",".join(steps), PAUSE=str(THINK_SECONDS),
                   REQUESTS_PER_CONNECTION="1")
        wait_for(lambda: len(replicas.seen) >= 2, timeout=300, what="the autoscaler scaling up")
        scaled_up, count = replicas.seen[1]
        crossed = queue.crossing(TARGET_MS, after=started)
        assert count == 2 and crossed is not None and crossed < scaled_up, (replicas.seen, crossed)
        reaction = scaled_up - crossed
        print(f"\ncrossing → /scale write (seen from here): {reaction:.2f}s; queue "
              f"{queue.queue_ms(crossed, scaled_up):.0f} ms (target {TARGET_MS} ms)")
        assert reaction <= 5.0

        wait_for(lambda: ready_replicas(cluster, namespace, MODEL) == 2, timeout=600, what="2 ready replicas")
        (second,) = [pod["metadata"]["name"] for pod in pods(cluster, namespace) if pod["metadata"]["name"] != first]
        wait_for(lambda: served(cluster, namespace, second) > 20, timeout=120, what="the new pod serving")

        # The load falls back to one client; the scale-down waits for the delay (the harness times it exactly).
        wait_for(lambda: replicas.seen[-1][1] == 1, timeout=400, what="the scale-down after the load")
        assert [k for k, _ in itertools.groupby(r for _, r in replicas.seen)] == [1, 2, 1], replicas.seen
        print(f"scale-down written {replicas.seen[-1][0] - scaled_up:.0f}s after the scale-up ({over} clients for "
              f"{HEAVY_SECONDS}s from the start of that level; scaleDownDelay {SCALE_DOWN_DELAY:.0f}s)")
    report = wait_for(lambda: (line := last_line(cluster, namespace, "load")) and line.get("done") and line,
                      timeout=300, what="load finished")
    print(f"requests: {report['successes']} answered, {report['failures']} failed")
    assert report["failures"] == 0, report["errors"]
    assert report["successes"] > 0 and report["by_version"] == {"1": report["successes"]}

    shown = cluster.get(f"{p['mds']}/{MODEL}")["status"]["autoscaling"]
    assert (shown["engine"], shown["metric"], shown["target"], shown["desiredReplicas"]) == \
        ("builtin", "queueTime", f"{TARGET_MS}ms", 1), shown
    assert shown["lastScaleTime"] and shown["currentValue"], shown
    events = cluster.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    messages = {e["reason"]: e["message"] for e in events if e["involvedObject"]["name"] == MODEL}
    assert messages["ScaledUp"].startswith("scaled 1 → 2: queue time "), messages
    assert messages["ScaledDown"].startswith("scaled 2 → 1: queue time "), messages
