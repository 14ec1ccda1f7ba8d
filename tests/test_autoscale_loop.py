"""The autoscaler's loop and its inputs, with a fake clock, fake targets, a fake writer and real /metrics text."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from modeldeploy.api import AutoscalingStatus
from modeldeploy.autoscale import (
    AutoscaleLoop, AutoscalerMetrics, Scraper, Settings, Target, Targets, autoscaling_status, pod_view, scale_event,
)
from modeldeploy.autoscale.status import hpa_current_value
from modeldeploy.clients.permissions import allowed, MODELDEPLOYMENT
from support.specs import with_

pytestmark = pytest.mark.unit

REAL = (Path(__file__).parent / "data" / "triton_metrics" / "quickstart-summaries-after-400.txt").read_text()


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Triton:
    """Per pod IP, a text like Triton's whose counters follow a queue time and a rate; None: unreachable."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self.pods: dict[str, tuple[float, float] | None] = {}  # ip → (completed/s, queue ms)
        self.start = clock.now

    def fetch(self, url: str, timeout: float) -> str:
        from modeldeploy.clients.triton_metrics import ScrapeError
        ip = url.split("//")[1].split(":")[0]
        load = self.pods.get(ip)
        if load is None:
            raise ScrapeError(url, "URLError: connection refused")
        rate, queue_ms = load
        done = rate * (self.clock.now - self.start)
        return (f'nv_inference_request_success{{model="demo",version="1"}} {done}\n'
                f'nv_inference_queue_duration_us{{model="demo",version="1"}} {done * queue_ms * 1000}\n'
                f'nv_inference_pending_request_count{{model="demo",version="1"}} {1 if queue_ms > 50 else 0}\n')


def _pod(name: str, ip: str | None, ready: bool = True, **status) -> dict:
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": "2027-01-15T08:01:00Z"}]
    return {"metadata": {"name": name, "creationTimestamp": "2027-01-15T08:00:00Z"},
            "status": {"phase": "Running" if ready else "Pending", "podIP": ip, "conditions": conditions, **status}}


def _body(replicas: int = 2, engine: str = "builtin", status: dict | None = None) -> dict:
    doc = with_(("spec.replicas", replicas), ("metadata.uid", "u-1"), ("metadata.generation", 1),
                ("spec.autoscaling", {"minReplicas": 1, "maxReplicas": 8, "target": "50ms", "engine": engine}))
    if status:
        doc["status"] = status
    return doc


class Harness:
    def __init__(self, replicas: int = 2, ips: tuple[str, ...] = ("10.0.0.1", "10.0.0.2")):
        self.clock = Clock()
        self.triton = Triton(self.clock)
        self.body = _body(replicas)
        self.pods = [_pod(f"demo-v1-{i}", ip) for i, ip in enumerate(ips)]
        self.writes: list[tuple[str, str, int]] = []
        self.events: list[tuple[str, str, bool]] = []
        self.metrics = AutoscalerMetrics()
        self.loop = AutoscaleLoop(Targets(lambda: [self.body], lambda body: self.pods), self.write, self.record,
                                  scraper=Scraper(self.triton.fetch), clock=self.clock, metrics=self.metrics)

    def write(self, namespace: str, name: str, replicas: int) -> None:
        self.writes.append((namespace, name, replicas))
        self.body["spec"]["replicas"] = replicas  # what the API server does with the patch

    def record(self, target: Target, reason: str, message: str, warning: bool) -> None:
        self.events.append((reason, message, warning))

    def run(self, seconds: float, step: float = 0.5) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.loop.tick()
            self.clock.now += step


def test_it_writes_scale_once_per_decision_and_never_when_unchanged() -> None:
    h = Harness()
    h.triton.pods = {"10.0.0.1": (1000, 2.0), "10.0.0.2": (1000, 2.0)}
    h.run(30)
    assert h.writes == [] and h.events == []
    h.triton.pods = {"10.0.0.1": (1000, 400.0), "10.0.0.2": (1000, 400.0)}
    h.triton.start = h.clock.now  # fresh counters: a burst from now on
    h.run(10)
    assert len(h.writes) == 1
    namespace, name, replicas = h.writes[0]
    assert (namespace, name) == ("team-a", "demo") and replicas > 2
    reason, message, warning = h.events[0]
    assert reason == "ScaledUp" and message.startswith(f"scaled 2 → {replicas}: queue time ") and not warning
    h.run(20)  # the same overload, already answered: no second write while the count holds
    assert len(h.writes) == len({w[2] for w in h.writes})


def test_it_decides_every_tick_not_every_call() -> None:
    h = Harness()
    h.triton.pods = {"10.0.0.1": (1000, 2.0), "10.0.0.2": (1000, 2.0)}
    made = []
    for _ in range(8):  # 4 s at 0.5 s resolution, tick 2 s
        made.append(len(h.loop.tick()))
        h.clock.now += 0.5
    assert made == [1, 0, 0, 0, 1, 0, 0, 0]


def test_status_for_the_reconciler_reads_like_kubectl_would_show_it() -> None:
    h = Harness()
    h.triton.pods = {"10.0.0.1": (1000, 400.0), "10.0.0.2": (1000, 400.0)}
    assert h.loop.status_of("team-a", "demo") is None
    h.run(6)
    status = h.loop.status_of("team-a", "demo")
    AutoscalingStatus.model_validate(status)
    assert status["engine"] == "builtin" and status["metric"] == "queueTime" and status["target"] == "50ms"
    assert status["currentValue"] == "400ms" and status["desiredReplicas"] == h.body["spec"]["replicas"]
    assert status["mode"] == "Stable" and status["lastScaleTime"].endswith("Z")  # 2 → 3 is no panic (< 2×)
    assert status["message"].startswith(f"{h.body['spec']['replicas']} replicas: queue time 400ms > target 50ms")


def test_the_reconciler_is_told_only_when_the_status_changes() -> None:
    h = Harness()
    told = []
    h.loop._on_status = told.append  # noqa: SLF001 - the injected callback
    h.triton.pods = {"10.0.0.1": (1000, 2.0), "10.0.0.2": (1000, 2.0)}
    h.run(20)
    # Ten decisions, one status: the warm-up (a single scrape) leaves what the API holds; then the figures.
    assert told == [("team-a", "demo")]
    h.run(40)
    assert len(told) <= 3  # the figures alone refresh at most every 30 s
    h.triton.pods = {"10.0.0.1": (1000, 400.0), "10.0.0.2": (1000, 400.0)}
    h.triton.start = h.clock.now
    before = len(told)
    h.run(4)
    assert len(told) > before and h.writes  # a scale is news at once


def test_a_pod_that_cannot_be_scraped_is_reported_not_counted_idle() -> None:
    h = Harness()
    h.triton.pods = {"10.0.0.1": (1000, 100.0), "10.0.0.2": None}
    h.run(8)
    assert h.writes and h.writes[-1][2] == 3  # 1 measured pod at 2× target → 2, plus the unread one
    assert h.events[-1][1].endswith("; 1 of 2 ready pods could not be scraped and are left out")
    text = generate_latest(h.metrics.registry).decode()
    assert 'modeldeploy_autoscaler_scrape_errors_total{modeldeployment="demo",namespace="team-a"}' in text


def test_a_failed_write_is_retried_by_the_next_decision_and_claims_no_scale() -> None:
    h = Harness()
    failures = [RuntimeError("503")]

    def flaky(namespace: str, name: str, replicas: int) -> None:
        if failures:
            raise failures.pop()
        h.write(namespace, name, replicas)

    h.loop._write = flaky  # noqa: SLF001 - swap the injected writer for this test
    h.triton.pods = {"10.0.0.1": (1000, 400.0), "10.0.0.2": (1000, 400.0)}
    h.run(3)
    assert h.writes == [] and h.events == []
    assert "lastScaleTime" not in h.loop.status_of("team-a", "demo")
    h.run(3)
    assert len(h.writes) == 1 and h.events[0][0] == "ScaledUp"


def test_a_restarted_operator_holds_the_count_it_finds_instead_of_scaling_down() -> None:
    h = Harness(replicas=4, ips=("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"))
    h.body["status"] = {"autoscaling": {"engine": "builtin", "metric": "queueTime", "target": "50ms",
                                        "lastScaleTime": "2027-01-15T08:00:00Z", "capacityPerReplica": 3000.0}}
    h.triton.pods = {ip: (10, 0.5) for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")}
    h.run(50)
    assert h.writes == []  # idle, but a stable window of fresh data comes first
    assert h.loop.status_of("team-a", "demo")["lastScaleTime"] == "2027-01-15T08:00:00Z"
    h.run(130)
    assert h.writes and h.writes[-1][2] < 4


def test_targets_are_builtin_modeldeployments_only_and_vanish_with_them() -> None:
    h = Harness()
    h.triton.pods = {"10.0.0.1": (1000, 2.0), "10.0.0.2": (1000, 2.0)}
    h.run(4)
    assert "modeldeploy_autoscaler_desired_replicas{" in generate_latest(h.metrics.registry).decode()
    h.body = _body(engine="hpa")
    h.body["metadata"]["generation"] = 2  # the API server bumps it on a spec change
    h.run(4)
    assert h.loop.status_of("team-a", "demo") is None
    assert "modeldeploy_autoscaler_desired_replicas{" not in generate_latest(h.metrics.registry).decode()


def test_a_changed_metric_leaves_one_series_not_two() -> None:
    h = Harness()
    h.triton.pods = {"10.0.0.1": (1000, 2.0), "10.0.0.2": (1000, 2.0)}
    h.run(4)
    h.body["spec"]["autoscaling"].update(metric="pendingRequests", target=4)
    h.body["metadata"]["generation"] = 2
    h.run(4)
    text = generate_latest(h.metrics.registry).decode()
    assert 'metric="pendingRequests"' in text and 'metric="queueTime"' not in text


def test_pod_view_reads_readiness_startup_and_unschedulable_from_the_pod() -> None:
    ready = pod_view(_pod("a", "10.0.0.1"))
    assert ready.pod.ready and ready.ip == "10.0.0.1" and ready.pod.startup_seconds == 60
    stuck = pod_view({"metadata": {"name": "b"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "lastTransitionTime": "2027-01-15T08:00:00Z", "message": "0/3 nodes: Insufficient nvidia.com/gpu"}]}})
    assert not stuck.pod.ready and stuck.pod.unschedulable_since == pytest.approx(1800000000 + 4_684_800, abs=1e7)
    starting = pod_view(_pod("c", "10.0.0.3", ready=False))
    assert not starting.pod.ready and starting.pod.unschedulable_since is None


def test_settings_come_from_the_spec_with_kpa_defaults() -> None:
    target = Targets(lambda: [_body()], lambda body: [])()[0]
    assert target.settings == Settings(metric="queueTime", target=50.0, min_replicas=1, max_replicas=8)
    assert target.asked == 2 and target.model == "demo"


def test_status_for_hpa_and_keda_engines_carries_what_the_hpa_reports() -> None:
    status = autoscaling_status("hpa", "pendingRequests", "8", current_value="3.5", desired_replicas=4)
    assert status == {"engine": "hpa", "metric": "pendingRequests", "target": "8", "currentValue": "3.5",
                      "desiredReplicas": 4, "message": ""}


def test_scale_events_name_the_modeldeployment_and_say_why() -> None:
    target = Targets(lambda: [_body()], lambda body: [])()[0]
    event = scale_event(target, "ScaledUp", "scaled 2 → 4: queue time 180ms > target 50ms (panic)", False,
                        1_800_000_000.0, "op-0")
    assert event["involvedObject"]["kind"] == "ModelDeployment" and event["involvedObject"]["uid"] == "u-1"
    assert (event["reason"], event["type"]) == ("ScaledUp", "Normal")
    assert event["message"] == "scaled 2 → 4: queue time 180ms > target 50ms (panic)"


def test_the_scale_subresource_is_declared_for_the_client() -> None:
    assert allowed(MODELDEPLOYMENT, "patch", "scale") and allowed(MODELDEPLOYMENT, "get", "scale")
    assert not allowed(MODELDEPLOYMENT, "update", "scale")


def test_a_failing_decision_for_one_modeldeployment_leaves_the_others_deciding() -> None:
    h = Harness()
    h.triton.pods = {"10.0.0.1": (1000, 400.0), "10.0.0.2": (1000, 400.0)}
    broken = copy.deepcopy(h.body)
    broken["metadata"].update(name="broken", uid="u-2")
    h.loop._targets = Targets(lambda: [broken, h.body], lambda body: h.pods)  # noqa: SLF001 - the injected source
    scraper = h.loop._scraper  # noqa: SLF001

    class Failing:
        def samples(self, target):  # noqa: ANN001, ANN202
            if target.name == "broken":
                raise RuntimeError("a bug in one decision")
            return scraper.samples(target)

    h.loop._scraper = Failing()  # noqa: SLF001
    h.run(6)
    assert [w[1] for w in h.writes] == ["demo"], "demo still scaled although the decision before it failed"
    errors = h.metrics.registry.get_sample_value("modeldeploy_autoscaler_decisions_total", {
        "namespace": "team-a", "modeldeployment": "broken", "result": "Error"})
    assert errors and errors >= 2


@pytest.mark.parametrize("metric,current,shown", [
    ("queueTime", {"averageValue": "52300"}, "52ms"),  # the adapter's microseconds, shown as the target is
    ("queueTime", {"value": "1500k"}, "1500ms"),
    ("pendingRequests", {"averageValue": "9"}, "9.0"),
    ("cpu", {"averageUtilization": 72}, "72%"),
])
def test_what_an_hpa_read_is_shown_in_the_targets_unit(metric: str, current: dict, shown: str) -> None:
    status = {"currentMetrics": [{"type": "Pods", "pods": {"metric": {"name": "m"}, "current": current}}]}
    assert hpa_current_value(status, metric) == shown



def test_what_a_keda_hpa_read_is_shown_in_the_targets_unit() -> None:
    # KEDA's trigger queries give milliseconds already, as an External metric.
    status = {"currentMetrics": [{"type": "External", "external": {"metric": {"name": "s0-prometheus"},
                                                                    "current": {"value": "52300m"}}}]}
    assert hpa_current_value(status, "queueTime", adapter=False) == "52ms"
