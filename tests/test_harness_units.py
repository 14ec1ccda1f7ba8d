"""The harness's pure pieces, by table: rollout steps, int-or-percent, $(VAR) expansion, path rewriting,
extended-resource requests, kubectl's STATUS column."""

from __future__ import annotations

import pytest

from support.cluster.deployments import resolve, rolling_step
from support.cluster.kubelet.environment import expand
from support.cluster.kubelet.sandbox import PathMap
from support.cluster.scheduler import extended_requests, unschedulable_reasons
from support.cluster.views import kubectl_status

pytestmark = [pytest.mark.unit, pytest.mark.harness]


def pods(n: int, ready: bool = True, prefix: str = "p") -> list[dict]:
    condition = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    return [{"metadata": {"name": f"{prefix}{i}", "creationTimestamp": f"2026-01-01T00:00:0{i}Z"},
             "spec": {"nodeName": "n"}, "status": {"phase": "Running", "conditions": [condition]}}
            for i in range(n)]


@pytest.mark.parametrize("desired, surge, unavailable, new, new_ready, old, old_ready, create, delete", [
    (3, 1, 0, 0, 0, 3, 3, 1, 0),   # surge first: one new pod, nobody removed
    (3, 1, 0, 1, 0, 3, 3, 0, 0),   # the new pod not ready: nothing may go
    (3, 1, 0, 1, 1, 3, 3, 0, 1),   # it is ready: one old pod goes
    (3, 0, 1, 0, 0, 3, 3, 0, 1),   # no surge: an old pod goes first
    (3, 0, 1, 0, 0, 2, 2, 1, 0),   # then the new one comes up in its room
    (3, 1, 0, 0, 0, 3, 0, 1, 0),   # a scale-up sync does nothing else
    (3, 1, 0, 1, 1, 3, 0, 0, 1),   # unhealthy old pods go first, within the room
    (2, 1, 0, 3, 3, 0, 0, 0, 1),   # scale down
    (4, 1, 0, 2, 2, 0, 0, 2, 0),   # scale up without surge limits beyond desired
])
def test_a_rolling_update_step(desired, surge, unavailable, new, new_ready, old, old_ready, create, delete):
    new_pods = pods(new_ready, True, "n") + pods(new - new_ready, False, "m")
    old_pods = pods(old_ready, True, "o") + pods(old - old_ready, False, "u")
    step = rolling_step(desired, surge, unavailable, new_pods, old_pods, 0)
    assert (step.create, len(step.delete)) == (create, delete)


def test_scale_down_deletes_unready_then_youngest():
    step = rolling_step(2, 1, 0, pods(3, True, "r") + pods(1, False, "x"), [], 0)
    assert [p["metadata"]["name"] for p in step.delete] == ["x0", "r2"]


@pytest.mark.parametrize("value, total, up, expected", [
    ("25%", 3, True, 1), ("25%", 3, False, 0), (2, 3, True, 2), (None, 4, False, 1), ("50%", 5, True, 3)])
def test_int_or_percent(value, total, up, expected):
    assert resolve(value, total, round_up=up) == expected


@pytest.mark.parametrize("text, expected", [
    ("$(A)-$(B)", "1-two"), ("$$(A)", "$(A)"), ("$(MISSING)", "$(MISSING)"), ("$(A", "$(A"),
    ("cost $5", "cost $5"), ("end$", "end$"), ("--key=$(A)$(A)", "--key=11"),
])
def test_var_expansion_as_kubernetes_does(text, expected):
    assert expand(text, {"A": "1", "B": "two"}) == expected


def test_paths_are_rewritten_where_they_stand_as_paths():
    rewrite = PathMap({"/mnt/models": "/h/repo", "/tmp": "/h/tmp", "/mnt/pvc": "/h/pvc"})
    assert rewrite("--model-repository=/mnt/models") == "--model-repository=/h/repo"
    assert rewrite("/mnt/models/.staging/q") == "/h/repo/.staging/q"
    assert rewrite("file:///mnt/pvc/m.onnx") == "file:///h/pvc/m.onnx"
    assert rewrite("echo $x > /tmp/key && cat /tmp/key") == "echo $x > /h/tmp/key && cat /h/tmp/key"
    assert rewrite("/usr/tmp /tmpfile /mnt/models2 x/tmp") == "/usr/tmp /tmpfile /mnt/models2 x/tmp"


def test_extended_requests_count_init_containers_by_the_max_rule():
    pod = {"spec": {"initContainers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}}],
                    "containers": [{"resources": {"limits": {"nvidia.com/gpu": "1", "memory": "1Gi"}}},
                                   {"resources": {"requests": {"nvidia.com/mig-1g.10gb": "1"}}}]}}
    assert extended_requests(pod) == {"nvidia.com/gpu": 2, "nvidia.com/mig-1g.10gb": 1}
    assert unschedulable_reasons(pod, {"nvidia.com/gpu": 2}, 1, {}) == ["Insufficient nvidia.com/mig-1g.10gb"]


@pytest.mark.parametrize("status, shown", [
    ({"phase": "Pending", "initContainerStatuses": [
        {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"state": {"terminated": {"exitCode": 12, "reason": "Error"}}}]}, "Init:Error"),
    ({"phase": "Pending", "initContainerStatuses": [
        {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}, "Init:CrashLoopBackOff"),
    ({"phase": "Pending", "initContainerStatuses": [{"state": {"running": {}}}, {"state": {"waiting": {}}}]},
     "Init:0/2"),
    ({"phase": "Running", "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
     "CrashLoopBackOff"),
    ({"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]}, "Running"),
])
def test_kubectl_status_column(status, shown):
    assert kubectl_status({"metadata": {}, "status": status}) == shown
