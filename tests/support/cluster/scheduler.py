"""kube-scheduler for one node, by extended resources (GPUs, MIG slices), pod count and nodeSelector only.

CPU and memory requests are not counted: the harness runs on a shared
machine whose size says nothing about a cluster's. What is counted fails the
way the scheduler reports it: the pod stays Pending with
PodScheduled=False, reason Unschedulable, and the scheduler's message
("0/1 nodes are available: 1 Insufficient nvidia.com/gpu."). Pods are
bound in creation order (no priorities, no preemption), and a pending pod is
bound as soon as a terminated pod frees what it needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from .api import Api, resource_path
from .informer import Informer
from .objects import condition, set_condition

PODS = "v1/pods"


def extended_requests(pod: dict) -> Counter:
    """The pod's effective request of extended resources: max(any init container, sum of containers)."""
    def of(container: dict) -> Counter:
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        return Counter({k: int(v) for k, v in wanted.items() if "/" in k})  # vendor-domain names only
    spec = pod.get("spec") or {}
    total: Counter = Counter()
    for container in spec.get("containers") or []:
        total.update(of(container))
    for container in spec.get("initContainers") or []:
        for name, count in of(container).items():
            total[name] = max(total[name], count)
    return total


def unschedulable_reasons(pod: dict, free: Mapping[str, int], free_pods: int, labels: Mapping[str, str]) -> list[str]:
    reasons = [f"Insufficient {name}" for name, count in sorted(extended_requests(pod).items())
               if count > free.get(name, 0)]
    if free_pods <= 0:
        reasons.append("Too many pods")
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        reasons.append("node(s) didn't match Pod's node affinity/selector")
    return reasons


class Scheduler:
    def __init__(self, api: Api, pods: Informer, node: str, allocatable: Mapping[str, int], max_pods: int,
                 labels: Mapping[str, str]):
        self._api, self._pods, self._node = api, pods, node
        self._allocatable, self._max_pods, self._labels = dict(allocatable), max_pods, dict(labels)

    def sync(self) -> None:
        pods = self._pods.items()
        # Terminating pods hold what they use until they are gone, as on a real node.
        bound = [p for p in pods if (p.get("spec") or {}).get("nodeName") == self._node
                 and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        used: Counter = Counter()
        for pod in bound:
            used.update(extended_requests(pod))
        free = {name: count - used[name] for name, count in self._allocatable.items()}
        free_pods = self._max_pods - len(bound)
        waiting = [p for p in pods if not (p.get("spec") or {}).get("nodeName")
                   and not p["metadata"].get("deletionTimestamp")]
        for pod in sorted(waiting, key=lambda p: p["metadata"]["creationTimestamp"]):
            reasons = unschedulable_reasons(pod, free, free_pods, self._labels)
            if reasons:
                self._report(pod, "0/1 nodes are available: " + ", ".join(f"1 {r}" for r in reasons) + ".")
                continue
            self._bind(pod)
            for name, count in extended_requests(pod).items():
                free[name] = free.get(name, 0) - count
            free_pods -= 1

    def _bind(self, pod: dict) -> None:
        meta = pod["metadata"]
        self._api.request("POST", resource_path(PODS, meta["namespace"], meta["name"], "binding"), {
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self._node}}, ok=(201, 409))
        self._pods.wait_until(meta["namespace"], meta["name"],
                              lambda p: p is None or bool((p.get("spec") or {}).get("nodeName")))

    def _report(self, pod: dict, message: str) -> None:
        old = condition(pod, "PodScheduled")
        if old and old.get("status") == "False" and old.get("message") == message:
            return
        conditions = set_condition(list((pod.get("status") or {}).get("conditions") or []),
                                   "PodScheduled", "False", "Unschedulable", message)
        meta = pod["metadata"]
        self._api.patch(PODS, meta["namespace"], meta["name"],
                        {"status": {"phase": "Pending", "conditions": conditions}}, subresource="status")
