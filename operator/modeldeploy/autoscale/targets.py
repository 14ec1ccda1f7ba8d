"""What the loop scales: ModelDeployments with the builtin engine, their pods, and what the API remembers.

Built from plain API objects (the operator's cache), so the same code feeds
the loop in the operator, in the loopback harness and in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..api import InvalidSpec, parse_model_deployment
from ..timestamps import epoch
from .decide import Pod, Settings


@dataclass(frozen=True)
class TargetPod:
    pod: Pod
    ip: str | None


@dataclass(frozen=True)
class Target:
    namespace: str
    name: str
    uid: str | None
    asked: int  # spec.replicas
    settings: Settings
    model: str  # the Triton model name to read from /metrics
    pods: tuple[TargetPod, ...]
    target_text: str  # the target as written ("50ms", "8")
    # What status.autoscaling remembers across operator restarts:
    last_scale_time: float | None = None
    capacity: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


def _condition(status: dict, kind: str) -> dict:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def pod_view(pod: dict) -> TargetPod:
    """A pod as the autoscaler sees it: ready or not, Unschedulable since when, how long it took to start."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    ready = _condition(status, "Ready")
    scheduled = _condition(status, "PodScheduled")
    is_ready = status.get("phase") == "Running" and ready.get("status") == "True"
    unschedulable = None
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        unschedulable = epoch(scheduled.get("lastTransitionTime")) or 0.0
    # creationTimestamp when the cache keeps it; the kubelet's startTime is the next best.
    created = epoch(meta.get("creationTimestamp")) or epoch(status.get("startTime"))
    ready_at = epoch(ready.get("lastTransitionTime")) if is_ready else None
    startup = ready_at - created if ready_at is not None and created is not None and ready_at >= created else None
    return TargetPod(Pod(meta.get("name", "?"), is_ready, unschedulable, startup, created), status.get("podIP"))


class Targets:
    """Lists Targets from ModelDeployment bodies and a way to get each one's pods.

    Settings are parsed once per (uid, generation): parsing every spec every tick would cost a
    millisecond per ModelDeployment, every two seconds.
    """

    def __init__(self, bodies: Callable[[], Iterable[dict]], pods_of: Callable[[dict], Iterable[dict]]):
        self._bodies = bodies
        self._pods_of = pods_of
        self._parsed: dict[tuple, tuple[Settings, str, str] | None] = {}

    def __call__(self) -> list[Target]:
        targets, seen = [], set()
        for body in self._bodies():
            meta = body.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue
            version = (meta.get("uid"), meta.get("generation"), meta.get("namespace"), meta.get("name"))
            seen.add(version)
            if version not in self._parsed:
                self._parsed[version] = _builtin_settings(body)
            parsed = self._parsed[version]
            if parsed is None:
                continue
            settings, model, target_text = parsed
            remembered = (body.get("status") or {}).get("autoscaling") or {}
            targets.append(Target(
                namespace=meta.get("namespace") or "default", name=meta["name"], uid=meta.get("uid"),
                asked=int((body.get("spec") or {}).get("replicas", 1)), settings=settings, model=model,
                pods=tuple(pod_view(p) for p in self._pods_of(body) if not (p.get("metadata") or {})
                           .get("deletionTimestamp")),
                target_text=target_text,
                last_scale_time=epoch(remembered.get("lastScaleTime")),
                capacity=remembered.get("capacityPerReplica"),
            ))
        for stale in set(self._parsed) - seen:
            del self._parsed[stale]
        return targets


def _builtin_settings(body: dict) -> tuple[Settings, str, str] | None:
    try:
        md = parse_model_deployment({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body})
    except InvalidSpec:
        return None  # the reconciler reports it; nothing to scale
    scaling = md.spec.autoscaling
    if scaling is None or scaling.engine != "builtin":
        return None
    return Settings.of(scaling), md.model_name, str(scaling.target)
