"""What the rollout decides from: revisions as observed, and the pods they run.

Plain frozen data, built by the reconciler from its cache; the step function
never reads the cluster itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PodView:
    name: str
    ready: bool  # the pod's Ready condition: containers ready and every readiness gate passed
    terminating: bool = False
    unschedulable: bool = False
    smoke: bool | None = None  # the smoke gate: passed, failed, or not run yet
    failure: str | None = None  # a reason (ModelFetchFailed, CrashLooping, ...) with its message after ": "
    ready_since: float | None = None  # when it turned Ready (epoch seconds), if known


@dataclass(frozen=True)
class RevisionView:
    """One revision Deployment: its template hash names what its pods serve."""

    name: str
    hash: str
    number: int
    version: str
    replicas: int  # the Deployment's spec.replicas as observed
    pods: tuple[PodView, ...] = ()

    @property
    def live(self) -> int:
        return sum(1 for p in self.pods if not p.terminating)

    @property
    def terminating(self) -> int:
        return sum(1 for p in self.pods if p.terminating)

    @property
    def ready(self) -> int:
        return sum(1 for p in self.pods if p.ready and not p.terminating)

    def routable(self, now: float, settle: float) -> int:
        """Ready pods a router can send to: ready for `settle` seconds, so their endpoints have propagated."""
        return sum(1 for p in self.pods if p.ready and not p.terminating
                   and (p.ready_since is None or p.ready_since <= now - settle))

    def committed(self, replicas: int | None = None) -> int:
        """Pods that hold a GPU now or will: every live pod or asked replica, and pods still terminating."""
        return max(self.replicas if replicas is None else replicas, self.live) + self.terminating

    def failure(self) -> str | None:
        """The first pod failure that dooms this revision (a GPU shortage is not one: it may pass)."""
        for pod in self.pods:
            if pod.terminating:
                continue
            if pod.smoke is False:
                return f"SmokeFailed: pod {pod.name} answered the smoke inference wrongly"
            if pod.failure:
                return pod.failure
        return None


@dataclass(frozen=True)
class Target:
    """The revision the current spec asks for; `exists` once its Deployment is observed."""

    name: str
    hash: str
    number: int
    version: str
