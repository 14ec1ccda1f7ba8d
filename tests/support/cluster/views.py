"""Pods as `kubectl get pods` shows them, for tests to read and to print when they fail."""

from __future__ import annotations

from dataclasses import dataclass

from .deployments import POD_TEMPLATE_HASH
from .objects import pod_ready

REVISION_LABEL = "serving.modeldeploy.io/revision"


def kubectl_status(pod: dict) -> str:
    """The STATUS column of `kubectl get pods` (kubectl's printPod, for the states the harness produces)."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    init = status.get("initContainerStatuses") or []
    for i, container in enumerate(init):
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = "Init:" + (terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init)}"
        break
    else:
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


@dataclass(frozen=True)
class PodView:
    name: str
    phase: str
    status: str  # kubectl's STATUS
    ip: str | None
    ready: bool
    restarts: int
    revision: str | None  # the ModelDeployment revision label (v<version>)
    template_hash: str | None
    terminating: bool

    @classmethod
    def of(cls, pod: dict) -> PodView:
        meta, status = pod["metadata"], pod.get("status") or {}
        labels = meta.get("labels") or {}
        return cls(meta["name"], status.get("phase", "Pending"), kubectl_status(pod), status.get("podIP"),
                   pod_ready(pod), sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or []),
                   labels.get(REVISION_LABEL), labels.get(POD_TEMPLATE_HASH),
                   bool(meta.get("deletionTimestamp")))
