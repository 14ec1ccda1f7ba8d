"""Why pods are not serving, from their status alone: the first failure found, worst first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..builders.naming import SMOKE_CONDITION
from .redact import redact

FETCH_CONTAINER, BUILD_CONTAINER, TRITON_CONTAINER = "fetch", "build-repo", "triton"
IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError"}


@dataclass(frozen=True)
class Finding:
    reason: str
    message: str
    pod: str


# Order = severity: the first kind found names the condition.
SEVERITY = ("ModelFetchFailed", "ModelRepositoryInvalid", "ImagePullFailed", "ContainerConfigInvalid",
            "OOMKilled", "CrashLooping", "SmokeFailed", "Unschedulable")


def diagnose(pods: Iterable[dict]) -> Finding | None:
    findings = [f for pod in pods for f in _pod_findings(pod)]
    if not findings:
        return None
    return min(findings, key=lambda f: (SEVERITY.index(f.reason), f.pod))


def not_ready_models(pods: Iterable[dict]) -> list[str]:
    """Pods whose Triton runs but whose model is not ready (readiness probe failing)."""
    names = []
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == TRITON_CONTAINER and "running" in (status.get("state") or {}) \
                    and not status.get("ready"):
                names.append(pod["metadata"]["name"])
    return names


def _terminated(status: dict) -> dict | None:
    """A failed run of the container: now, or the last one before a restart."""
    for state in (status.get("state") or {}, status.get("lastState") or {}):
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode", 0) != 0:
            return terminated
    return None


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _crash_line(text: str | None) -> str:
    """The line of a crashed Triton's log that says why: a model's own load error, as local serve picks it
    (Triton's last line, "failed to load all models", names no model and no cause)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    causes = [line for line in lines if "failed to load '" in line or
              (line.startswith("E") and "CudaDriverHelper" not in line and "failed to load all models" not in line)]
    return (causes or lines or [""])[-1]


def _pod_findings(pod: dict) -> list[Finding]:
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    found: list[Finding] = []

    def add(reason: str, message: str) -> None:
        found.append(Finding(reason, redact(f"pod {name}: {message}"), name))

    for container in status.get("initContainerStatuses") or []:
        terminated = _terminated(container)
        if terminated and container.get("name") in (FETCH_CONTAINER, BUILD_CONTAINER):
            detail = _first_line(terminated.get("message")) or f"exit code {terminated.get('exitCode')}"
            reason = "ModelFetchFailed" if container["name"] == FETCH_CONTAINER else "ModelRepositoryInvalid"
            add(reason, f"{container['name']} failed: {detail}")
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        cname = container.get("name")
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in IMAGE_PULL_REASONS:
            add("ImagePullFailed", f"container {cname} cannot pull {container.get('image', 'its image')}: "
                                   f"{waiting.get('message') or waiting['reason']}")
        elif waiting.get("reason") in CONFIG_REASONS:
            add("ContainerConfigInvalid", f"container {cname}: {waiting.get('message') or waiting['reason']}")
        terminated = _terminated(container)
        if terminated and terminated.get("reason") == "OOMKilled":
            add("OOMKilled", f"container {cname} was killed for exceeding its memory limit; "
                             "raise spec.runtime.resources.memory or lower the model's instance count")
        elif waiting.get("reason") == "CrashLoopBackOff" and cname not in (FETCH_CONTAINER, BUILD_CONTAINER):
            detail = _crash_line((terminated or {}).get("message")) or \
                f"exit code {(terminated or {}).get('exitCode', '?')}"
            add("CrashLooping", f"container {cname} keeps crashing: {detail}")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False" \
                and condition.get("reason") == "Unschedulable":
            add("Unschedulable", condition.get("message") or "no node fits the pod")
        elif condition.get("type") == SMOKE_CONDITION and condition.get("status") == "False":
            add("SmokeFailed", f"the smoke inference failed: {condition.get('message') or 'no answer'}")
    return found
