"""The Deployment controller of kube-controller-manager, with the ReplicaSet layer folded in.

Pods are created from the template (through the API, with generateName
`<deployment>-<pod-template-hash>-`), labelled with the template's labels plus
`pod-template-hash`, and owned by the Deployment (a real cluster puts a
ReplicaSet per template hash in between; here the hash on each pod plays its
part). The rollout follows the controller's own rules: scale the new template
up within maxSurge, scale old pods down while keeping desired - maxUnavailable
available (unhealthy old pods first), Recreate waits until every old pod is
gone, scale-down deletes the pods the ReplicaSet controller would (unscheduled,
pending, not ready, then the youngest). Status carries replicas, updated, ready,
available, unavailable and observedGeneration, and the Available and
Progressing conditions with their real reasons and messages, including
ProgressDeadlineExceeded after spec.progressDeadlineSeconds without progress.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass

from .api import Api
from .informer import Informer
from .objects import condition, controller_uid, now, parse_time, pod_active, pod_ready, seconds_since, set_condition

DEPLOYMENTS, PODS = "apps/v1/deployments", "v1/pods"
POD_TEMPLATE_HASH = "pod-template-hash"
SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the API server's alphabet for generated name parts


def template_hash(template: dict) -> str:
    number = int.from_bytes(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()[:8], "big")
    chars = []
    while number and len(chars) < 10:
        number, digit = divmod(number, len(SAFE))
        chars.append(SAFE[digit])
    return "".join(chars)


def resolve(value: int | str | None, total: int, round_up: bool, default: str = "25%") -> int:
    """An int-or-percent of `total` (maxSurge rounds up, maxUnavailable down, as the controller does)."""
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def surge_and_unavailable(dep: dict, desired: int) -> tuple[int, int]:
    rolling = ((dep["spec"].get("strategy") or {}).get("rollingUpdate")) or {}
    surge = resolve(rolling.get("maxSurge"), desired, round_up=True)
    unavailable = resolve(rolling.get("maxUnavailable"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the API refuses both zero; the controller's own fallback
    return surge, unavailable


def available(pod: dict, min_ready_seconds: int) -> bool:
    ready = condition(pod, "Ready")
    return pod_ready(pod) and (min_ready_seconds == 0 or seconds_since(ready["lastTransitionTime"]) >= min_ready_seconds)


def deletion_order(pods: list[dict]) -> list[dict]:
    """First to delete first: unscheduled, Pending, not ready, ready for less time, more restarts, younger."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}

    def rank(pod: dict) -> tuple:
        status = pod.get("status") or {}
        ready = condition(pod, "Ready")
        ready_since = parse_time(ready["lastTransitionTime"]).timestamp() if pod_ready(pod) else 0.0
        restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
        created = parse_time(pod["metadata"]["creationTimestamp"]).timestamp()
        cost = int((pod["metadata"].get("annotations") or {}).get("controller.kubernetes.io/pod-deletion-cost", 0))
        return (bool((pod.get("spec") or {}).get("nodeName")), phase_rank.get(status.get("phase"), 0),
                pod_ready(pod), cost, -ready_since, -restarts, -created)
    return sorted(pods, key=rank)


@dataclass(frozen=True)
class Step:
    create: int = 0
    delete: tuple[dict, ...] = ()


def rolling_step(desired: int, surge: int, unavailable: int, new: list[dict], old: list[dict],
                 min_ready: int) -> Step:
    """One sync of a RollingUpdate: scale the new pods up within the surge, else the old ones down."""
    total = len(new) + len(old)
    if len(new) < desired:
        room = min(desired + surge - total, desired - len(new))
        if room > 0:
            return Step(create=room)
    elif len(new) > desired:
        return Step(delete=tuple(deletion_order(new)[: len(new) - desired]))
    if not old:
        return Step()
    min_available = desired - unavailable
    new_unavailable = sum(not available(p, min_ready) for p in new)
    room = total - min_available - new_unavailable
    if room <= 0:
        return Step()
    unhealthy = [p for p in old if not available(p, min_ready)]
    doomed = deletion_order(unhealthy)[:room]
    # Then healthy old pods, while what stays available is at least min_available.
    healthy = deletion_order([p for p in old if available(p, min_ready)])
    spare = sum(available(p, min_ready) for p in new) + len(healthy) - min_available
    doomed += healthy[: max(spare, 0)]
    return Step(delete=tuple(doomed))


def recreate_step(desired: int, new: list[dict], old: list[dict], old_terminating: bool) -> Step:
    if old:
        return Step(delete=tuple(old))
    if old_terminating:
        return Step()  # Recreate starts the new pods only once every old one is gone
    if len(new) < desired:
        return Step(create=desired - len(new))
    return Step(delete=tuple(deletion_order(new)[: len(new) - desired]))


def pod_counts(new: list[dict], old: list[dict], min_ready: int) -> dict[str, int]:
    pods = new + old
    return {"replicas": len(pods), "updatedReplicas": len(new), "readyReplicas": sum(map(pod_ready, pods)),
            "availableReplicas": sum(available(p, min_ready) for p in pods)}


def deployment_status(dep: dict, counts: dict[str, int], created_new: bool) -> dict:
    spec, previous = dep["spec"], dep.get("status") or {}
    desired = int(spec.get("replicas", 1))
    _, unavailable = surge_and_unavailable(dep, desired)
    counts = {**counts, "unavailableReplicas": max(desired - counts["availableReplicas"], 0)}
    rs = f"{dep['metadata']['name']}-{template_hash(spec['template'])}"
    conditions = copy.deepcopy(previous.get("conditions") or [])
    if counts["availableReplicas"] >= desired - unavailable:
        conditions = set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                                   "Deployment has minimum availability.", lastUpdateTime=now())
    else:
        conditions = set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                                   "Deployment does not have minimum availability.", lastUpdateTime=now())
    conditions = _progressing(conditions, dep, counts, desired, rs, created_new, progressed(previous, counts))
    status = {"observedGeneration": dep["metadata"].get("generation", 1),
              **{k: v for k, v in counts.items() if v}, "conditions": conditions}  # zeros are omitted, as the API does
    return _keep_update_times(status, previous)


def _progressing(conditions: list[dict], dep: dict, counts: dict, desired: int, rs: str, created_new: bool,
                 moved: bool) -> list[dict]:
    old = next((c for c in conditions if c["type"] == "Progressing"), None)
    complete = counts["updatedReplicas"] == counts["replicas"] == counts["availableReplicas"] == desired
    if complete:
        return set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                             f'ReplicaSet "{rs}" has successfully progressed.',
                             lastUpdateTime=old["lastUpdateTime"] if old and old["reason"] == "NewReplicaSetAvailable"
                             else now())
    if created_new:
        return set_condition(conditions, "Progressing", "True", "NewReplicaSetCreated",
                             f'Created new replica set "{rs}"', lastUpdateTime=now())
    if moved or old is None or old["reason"] == "NewReplicaSetAvailable":
        return set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                             f'ReplicaSet "{rs}" is progressing.', lastUpdateTime=now())
    deadline = dep["spec"].get("progressDeadlineSeconds", 600)
    if old["status"] == "True" and seconds_since(old["lastUpdateTime"]) > deadline:
        return set_condition(conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                             f'ReplicaSet "{rs}" has timed out progressing.', lastUpdateTime=now())
    return conditions


def _keep_update_times(status: dict, previous: dict) -> dict:
    """Available's lastUpdateTime moves only when that condition changes (as the controller does)."""
    before = {c["type"]: c for c in previous.get("conditions") or []}
    for c in status["conditions"]:
        old = before.get(c["type"])
        if c["type"] == "Available" and old and all(old.get(k) == c.get(k) for k in ("status", "reason", "message")):
            c["lastUpdateTime"] = old.get("lastUpdateTime", c["lastUpdateTime"])
    return status


def progressed(before: dict, after: dict) -> bool:
    """The controller's DeploymentProgressing: more updated, fewer old, more ready or more available pods."""
    def old_pods(status: dict) -> int:
        return status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return (after.get("updatedReplicas", 0) > before.get("updatedReplicas", 0) or old_pods(after) < old_pods(before)
            or after.get("readyReplicas", 0) > before.get("readyReplicas", 0)
            or after.get("availableReplicas", 0) > before.get("availableReplicas", 0))


class DeploymentController:
    def __init__(self, api: Api, deployments: Informer, pods: Informer):
        self._api, self._deployments, self._pods = api, deployments, pods

    def sync(self) -> None:
        pods = self._pods.items()
        for dep in self._deployments.items():
            if not dep["metadata"].get("deletionTimestamp") and not dep["spec"].get("paused"):
                self._sync_one(dep, [p for p in pods if controller_uid(p) == dep["metadata"]["uid"]])

    def _sync_one(self, dep: dict, owned: list[dict]) -> None:
        spec = dep["spec"]
        desired = int(spec.get("replicas", 1))
        digest = template_hash(spec["template"])
        active = [p for p in owned if pod_active(p)]
        new = [p for p in active if p["metadata"]["labels"].get(POD_TEMPLATE_HASH) == digest]
        old = [p for p in active if p not in new]
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            old_terminating = any(p["metadata"]["labels"].get(POD_TEMPLATE_HASH) != digest for p in owned)
            step = recreate_step(desired, new, old, old_terminating)
        else:
            step = rolling_step(desired, *surge_and_unavailable(dep, desired), new, old,
                                int(spec.get("minReadySeconds", 0)))
        created_new = step.create > 0 and not new and not any(
            p["metadata"]["labels"].get(POD_TEMPLATE_HASH) == digest for p in owned)
        created = [self._create_pod(dep, digest) for _ in range(step.create)]
        for pod in step.delete:
            self._api.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
        self._await_cache(created, step.delete)
        deleted = {p["metadata"]["name"] for p in step.delete}
        new = [p for p in new if p["metadata"]["name"] not in deleted] + created
        old = [p for p in old if p["metadata"]["name"] not in deleted]
        status = deployment_status(dep, pod_counts(new, old, int(spec.get("minReadySeconds", 0))), created_new)
        if status != dep.get("status"):
            self._api.replace_status(DEPLOYMENTS, dep, status)

    def _create_pod(self, dep: dict, digest: str) -> dict:
        meta, template = dep["metadata"], dep["spec"]["template"]
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-{digest}-", "namespace": meta["namespace"],
                "labels": {**(template.get("metadata") or {}).get("labels", {}), POD_TEMPLATE_HASH: digest},
                "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                     "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": copy.deepcopy(template["spec"]),
        }
        return self._api.create(PODS, pod)

    def _await_cache(self, created: list[dict], deleted: tuple[dict, ...]) -> None:
        for pod in created:
            self._pods.wait_until(pod["metadata"]["namespace"], pod["metadata"]["name"], lambda p: p is not None)
        for pod in deleted:
            self._pods.wait_until(pod["metadata"]["namespace"], pod["metadata"]["name"],
                                  lambda p: p is None or not pod_active(p))
