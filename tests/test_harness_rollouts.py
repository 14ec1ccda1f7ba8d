"""Rollouts on the loopback cluster: real Triton pods, real traffic through the Service, the real operator.

Every test keeps a bounded loopback load running and a monitor that checks the
GPU budget at every observed instant: pods of all revisions (pending and
terminating included) <= replicas + maxSurge, and ready pods taking traffic
>= replicas - maxUnavailable.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO
from support.cluster.objects import condition
from support.cluster.polling import Poller

pytestmark = pytest.mark.harness

QUICKSTART = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
INPUTS = {"INPUT__0": np.ones((1, 16), dtype=np.float32)}
OUTPUTS = ["OUTPUT__0"]
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
EVENTS = "/api/v1/namespaces/default/events"

BROKEN_INFER = '''
class TritonPythonModel:
    def execute(self, requests):
        raise RuntimeError("this version is broken")
'''
BROKEN_LOAD = '''
class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError("this version cannot load its weights")

    def execute(self, requests):
        return []
'''


@pytest.fixture(scope="module")
def image_root(runtime_image_root: Path) -> Path:
    """The runtime image: the quickstart, plus a version that fails every request and one that cannot load."""
    for name, code in (("broken-infer", BROKEN_INFER), ("broken-load", BROKEN_LOAD)):
        folder = runtime_image_root / "models" / name
        if not folder.exists():
            shutil.copytree(runtime_image_root / "models" / "quickstart", folder)
            (folder / "model.py").write_text(code)
    return runtime_image_root


def model(replicas: int, rollout: dict, **spec) -> dict:
    md = copy.deepcopy(QUICKSTART)
    md["spec"]["replicas"] = replicas
    md["spec"]["rollout"] = rollout
    md["spec"].update(spec)
    return md


def version(md: dict, number: str, uri: str | None = None) -> dict:
    new = copy.deepcopy(md)
    new["spec"]["model"]["version"] = number
    if uri:
        new["spec"]["model"]["uri"] = uri
    return new


def rollout_of(cluster) -> dict:
    return ((cluster.md("quickstart") or {}).get("status") or {}).get("rollout") or {}


@dataclass
class Budget(Poller):
    """Samples the pods every 0.1 s and remembers the worst moments."""

    cluster: object
    total: int
    surge: int
    unavailable: int
    most_pods: int = 0
    fewest_serving: int = 1 << 30
    samples: int = 0

    def __post_init__(self) -> None:
        super().__init__(every=0.1)

    def poll(self) -> None:
        pods = self.cluster.pods()
        serving = sum(1 for p in pods if p.ready and not p.terminating)
        self.most_pods = max(self.most_pods, len(pods))
        self.fewest_serving = min(self.fewest_serving, serving)
        self.samples += 1

    def check(self, floor: int | None = None) -> None:
        # Enough moments to have seen the rollout's worst one; a loaded machine samples slower than every 0.1 s.
        assert self.samples >= 20, f"the monitor ran ({self.samples} samples)"
        assert self.most_pods <= self.total + self.surge, f"{self.most_pods} pods > {self.total} + {self.surge}"
        floor = self.total - self.unavailable if floor is None else floor
        assert self.fewest_serving >= floor, f"{self.fewest_serving} pods serving < {floor}"


class FailureTimes(Poller):
    """When the clients' failure count last grew, every 0.05 s."""

    def __init__(self, load):  # noqa: ANN001 - the harness's load generator
        super().__init__(every=0.05)
        self.load, self.seen, self.at = load, 0, []

    def poll(self) -> None:
        if self.load.report.failures > self.seen:
            self.seen = self.load.report.failures
            self.at.append(time.time())


def serve(cluster, md: dict, *, timeout: float = 120) -> None:
    cluster.apply(md)
    cluster.wait(lambda: (s := (cluster.md("quickstart") or {}).get("status") or {})
                 and s.get("readyReplicas") == md["spec"]["replicas"]
                 and s.get("observedGeneration") == cluster.md("quickstart")["metadata"]["generation"],
                 timeout=timeout, what=f"{md['spec']['replicas']} ready replicas")


def first_answer(cluster, address: str | None = None) -> None:
    """Once this answers, the proxy has the endpoints (they follow readiness after its delay)."""
    load = cluster.load(address or cluster.service_address("quickstart", "http"), "quickstart", INPUTS, OUTPUTS,
                        concurrency=1)
    with load:
        load.wait_for(1, timeout=30)


def events(cluster, reason: str) -> list[dict]:
    return [e for e in cluster.api.items(EVENTS) if e.get("reason") == reason]


def test_a_three_step_canary_under_load_loses_nothing_and_splits_traffic_as_asked(make_cluster, image_root):
    cluster = make_cluster(runtime_image_root=image_root, max_pods=6)
    steps = [{"weight": 33, "pause": "8s"}, {"weight": 67, "pause": "8s"}]
    md = model(3, {"steps": steps, "maxSurge": 1, "analysis": {"interval": "2s", "minRequests": 5}})
    serve(cluster, md)
    first_answer(cluster)
    load = cluster.load(cluster.service_address("quickstart", "http"), "quickstart", INPUTS, OUTPUTS,
                        concurrency=4, requests_per_connection=1)
    observed: dict[int, Counter] = {}
    with load, Budget(cluster, total=3, surge=1, unavailable=0) as budget:
        load.wait_for(50)
        cluster.apply(version(md, "2"))
        for index, asked in enumerate((33, 67)):
            # Count the traffic while the step holds, from the replies' model_version.
            cluster.wait(lambda: (r := rollout_of(cluster)).get("step") == index and r.get("stepReachedAt"),
                         timeout=120, what=f"step {index + 1} reached")
            before = Counter(load.report.by_version)
            time.sleep(5)
            observed[asked] = Counter(load.report.by_version) - before
        cluster.wait(lambda: rollout_of(cluster).get("stable") == "v2" and rollout_of(cluster).get("phase") == "Stable",
                     timeout=120, what="v2 stable")
        cluster.wait(lambda: {p.revision for p in cluster.pods()} == {"v2"} and len(cluster.pods()) == 3,
                     timeout=60, what="only v2 pods")
        load.wait_for(load.report.successes + 20)
    report = load.report
    assert report.failures == 0, report.errors[:5]
    budget.check()
    for asked, counts in observed.items():
        share = 100 * counts["2"] / max(1, sum(counts.values()))
        print(f"asked {asked}%: v2 took {share:.0f}% of {sum(counts.values())} requests")
        assert abs(share - asked) <= 10, (asked, counts)
    status = cluster.md("quickstart")["status"]
    assert status["traffic"] == "v2=100"
    assert cluster.api.get(f"{DEPLOYMENTS}/quickstart-v1")["spec"]["replicas"] == 0, "v1 kept as history"
    assert [e["message"] for e in events(cluster, "CanaryStep")], "an Event per step"


def test_a_version_failing_every_request_is_rolled_back_by_the_analysis(make_cluster, image_root):
    cluster = make_cluster(runtime_image_root=image_root)
    md = model(2, {"steps": [{"weight": 50, "pause": "5m"}], "maxSurge": 1,
                   "analysis": {"interval": "2s", "minRequests": 5, "failureLimit": 2, "smokeTest": False}})
    serve(cluster, md)
    first_answer(cluster)
    load = cluster.load(cluster.service_address("quickstart", "http"), "quickstart", INPUTS, OUTPUTS,
                        concurrency=2, requests_per_connection=1)
    with load, Budget(cluster, total=2, surge=1, unavailable=0) as budget, FailureTimes(load) as failures:
        load.wait_for(30)
        cluster.apply(version(md, "2", uri="file:models/broken-infer"))
        aborted = cluster.wait(lambda: (r := rollout_of(cluster)).get("phase") == "Aborted" and r, timeout=120,
                               what="the rollout aborted")
        after = load.report.successes
        load.wait_for(after + 100, timeout=60)
    aborted_at = time.mktime(time.strptime(aborted["abortedAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    last_failure = max(failures.at) if failures.at else aborted_at
    print(f"failures seen by clients: {load.report.failures}; last {last_failure - aborted_at:+.1f}s from the abort")
    assert load.report.failures > 0, "the canary did take its share and failed it"
    assert last_failure - aborted_at <= 10, "traffic back on the stable revision within 10 s"
    assert load.report.by_version.get("2", 0) == 0
    md_now = cluster.md("quickstart")
    assert condition(md_now, "Degraded")["reason"] == "RolloutAborted"
    assert "error ratio" in condition(md_now, "Degraded")["message"]
    assert events(cluster, "RolloutAborted")
    # The canary held one of the two replicas: the stable revision grows back into its room.
    cluster.wait_for_condition("quickstart", "Ready", "True", timeout=60)
    assert [p.revision for p in cluster.pods() if not p.terminating] == ["v1", "v1"]
    budget.check(floor=1)  # the failing canary's pods leave at once, whatever the floor: they serve errors


@pytest.mark.parametrize("change, reason", [
    ({"uri": "file:models/broken-load"}, "keeps crashing"),
    ({"gpus": 2}, "not enough GPUs"),
])
def test_a_version_that_cannot_serve_is_rolled_back_and_never_weighted(make_cluster, image_root, change, reason):
    cluster = make_cluster(runtime_image_root=image_root)
    md = model(1, {"maxSurge": 1, "progressDeadline": "15s"})
    serve(cluster, md)
    broken = version(md, "2", uri=change.get("uri"))
    if "gpus" in change:
        broken["spec"]["runtime"]["resources"]["gpus"] = change["gpus"]
    weights: list[str] = []
    with Budget(cluster, total=1, surge=1, unavailable=0) as budget:
        cluster.apply(broken)
        aborted = cluster.wait(lambda: (r := rollout_of(cluster)).get("phase") == "Aborted" and r, timeout=120,
                               what="the rollout aborted")
        weights.append(cluster.md("quickstart")["status"].get("traffic") or "")
    assert reason in aborted["abortedReason"], aborted["abortedReason"]
    assert all("v2=0" in w or "v2" not in w for w in weights)
    assert budget.most_pods <= 2 and budget.fewest_serving >= 1
    assert condition(cluster.md("quickstart"), "Ready")["status"] == "True"
    first_answer(cluster)


def test_blue_green_switches_under_load_and_undo_reuses_the_warm_revision(make_cluster, image_root):
    cluster = make_cluster(runtime_image_root=image_root)
    md = model(1, {"strategy": "BlueGreen", "maxSurge": 1, "blueGreen": {"scaleDownDelay": "60s"}})
    serve(cluster, md)
    first_answer(cluster)
    v1 = cluster.api.get(f"{DEPLOYMENTS}/quickstart-v1")["metadata"]["uid"]
    load = cluster.load(cluster.service_address("quickstart", "http"), "quickstart", INPUTS, OUTPUTS,
                        concurrency=2, requests_per_connection=1)
    with load, Budget(cluster, total=1, surge=1, unavailable=0) as budget:
        load.wait_for(30)
        started = time.monotonic()
        cluster.apply(version(md, "2"))
        cluster.wait(lambda: rollout_of(cluster).get("stable") == "v2", timeout=120, what="switched to v2")
        first = time.monotonic() - started
        load.wait_for(load.report.successes + 30)
        before_undo = Counter(load.report.by_version)
        started = time.monotonic()
        cluster.apply(md)  # undo: the v1 spec again, while v1 is still warm
        cluster.wait(lambda: rollout_of(cluster).get("stable") == "v1", timeout=60, what="back on v1")
        undo = time.monotonic() - started
        time.sleep(1)  # the Service's endpoints follow (the proxy's delay)
        before_undo = Counter(load.report.by_version)
        load.wait_for(load.report.successes + 50)
    print(f"BlueGreen switch to v2: {first:.1f}s; undo to the warm v1: {undo:.1f}s")
    assert load.report.failures == 0, load.report.errors[:5]
    assert (Counter(load.report.by_version) - before_undo)["2"] == 0, "traffic moved back to v1"
    assert cluster.api.get(f"{DEPLOYMENTS}/quickstart-v1")["metadata"]["uid"] == v1, "v1's Deployment reused"
    assert undo < first / 2, "undo to a warm revision needs no new pod"
    budget.check()
    assert events(cluster, "TrafficSwitched")


def test_an_autoscaled_model_rolls_out_without_losing_capacity(make_cluster, image_root):
    """The defect that was: the new revision started at minReplicas and the scaled-up old one went away.

    6 replicas, 7 Triton pods at once at the peak; MODELDEPLOY_TEST_AUTOSCALED_REPLICAS changes the count."""
    replicas = int(os.environ.get("MODELDEPLOY_TEST_AUTOSCALED_REPLICAS", "6"))
    cluster = make_cluster(runtime_image_root=image_root, max_pods=replicas + 2)
    md = model(1, {"maxSurge": 1}, autoscaling={"minReplicas": 1, "maxReplicas": 8, "metric": "cpu",
                                                "target": 70, "engine": "hpa"})
    serve(cluster, md)
    cluster.scale("quickstart", replicas)  # what the HPA does: the ModelDeployment's /scale
    cluster.wait(lambda: (cluster.md("quickstart").get("status") or {}).get("readyReplicas") == replicas,
                 timeout=300, what=f"scaled to {replicas}")
    with Budget(cluster, total=replicas, surge=1, unavailable=0) as budget:
        new = version(md, "2")
        new["spec"]["replicas"] = replicas
        cluster.apply(new)
        cluster.wait(lambda: rollout_of(cluster).get("stable") == "v2", timeout=600, what="v2 rolled out")
        cluster.wait(lambda: len([p for p in cluster.pods() if p.revision == "v2" and p.ready]) == replicas,
                     timeout=120, what=f"{replicas} v2 pods")
    budget.check()
    print(f"autoscaled rollout of {replicas}: never fewer than {budget.fewest_serving} pods serving, "
          f"at most {budget.most_pods} pods")


def test_an_operator_killed_mid_step_resumes_where_the_status_says(make_cluster, image_root):
    cluster = make_cluster(runtime_image_root=image_root)
    md = model(2, {"steps": [{"weight": 50, "pause": "10s"}], "maxSurge": 1, "analysis": {"interval": "2s"}})
    serve(cluster, md)
    with Budget(cluster, total=2, surge=1, unavailable=0) as budget:
        cluster.apply(version(md, "2"))
        cluster.wait(lambda: (r := rollout_of(cluster)).get("stepReachedAt") and r, timeout=120,
                      what="the canary step reached")
        cluster.operator.kill()
        time.sleep(3)
        cluster.operator.start()
        cluster.wait(lambda: rollout_of(cluster).get("stable") == "v2", timeout=120, what="the rollout completed")
    started = [e for e in events(cluster, "RolloutStarted") if "v2" in e["message"]]
    assert len(started) == 1, "resumed where the status said, not started over"
    budget.check()


GATEWAY_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "httproutes.gateway.networking.k8s.io"},
               "spec": {"group": "gateway.networking.k8s.io", "scope": "Namespaced",
                        "names": {"plural": "httproutes", "kind": "HTTPRoute"}, "versions": []}}


def test_an_httproute_carries_the_exact_canary_weight(make_cluster, image_root):
    """With the Gateway API installed, the weight is the HTTPRoute's, not the share of pods."""
    cluster = make_cluster(runtime_image_root=image_root, max_pods=5)
    cluster.api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", GATEWAY_CRD)
    cluster.operator.stop()  # it discovers optional APIs when it starts (and at each full relist)
    cluster.operator.start()
    routing = {"gatewayApi": {"parentRefs": [{"name": "gateway"}]}}
    md = model(2, {"steps": [{"weight": 20, "pause": "5m"}], "maxSurge": 1, "trafficRouting": routing,
                   "analysis": {"interval": "2s", "minRequests": 5}})
    serve(cluster, md)
    address = cluster.route_address("quickstart")
    first_answer(cluster, address)
    load = cluster.load(address, "quickstart", INPUTS, OUTPUTS, concurrency=4, requests_per_connection=1)
    with load, Budget(cluster, total=2, surge=1, unavailable=0) as budget:
        load.wait_for(50)
        cluster.apply(version(md, "2"))
        cluster.wait(lambda: route_weights(cluster) == {"quickstart-v1": 80, "quickstart-v2": 20}, timeout=120,
                     what="the HTTPRoute at 20%")
        time.sleep(0.5)  # the gateway follows the route
        before = Counter(load.report.by_version)
        time.sleep(6)
        during = Counter(load.report.by_version) - before
    share = 100 * during["2"] / max(1, sum(during.values()))
    print(f"HTTPRoute asked 20%: v2 took {share:.1f}% of {sum(during.values())} requests")
    assert load.report.failures == 0, load.report.errors[:5]
    assert abs(share - 20) <= 5, during
    budget.check()


def route_weights(cluster) -> dict[str, int]:
    route = cluster.api.get("/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/quickstart") or {}
    return {b["name"]: b["weight"] for rule in (route.get("spec") or {}).get("rules", [])
            for b in rule.get("backendRefs", [])}
