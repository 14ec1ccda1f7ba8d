"""What a rollout step takes and gives: its inputs, the plan it returns, the Events it tells, and the
requests a user may make of it (`modeldeploy rollout promote|abort|retry`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..api import Rollout, RolloutStatus
from ..timestamps import epoch, iso  # noqa: F401 - the rollout's times, for step.py
from .analysis import IntervalVerdict
from .views import RevisionView, Target

PROMOTE, PROMOTE_FULL, ABORT, RETRY = "promote", "promote-full", "abort", "retry"


@dataclass(frozen=True)
class Inputs:
    rollout: Rollout
    total: int  # spec.replicas, within the autoscaling bounds
    target: Target
    revisions: tuple[RevisionView, ...]
    state: RolloutStatus
    now: float  # seconds since the epoch
    verdicts: tuple[IntervalVerdict, ...] = ()  # of the target revision, oldest first
    request: str | None = None  # "<action>@<id>" from the ModelDeployment's request annotation
    routed: bool = True  # an HTTPRoute can carry exact weights (the Gateway API is installed)


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Plan:
    replicas: dict[str, int]  # revision name -> Deployment replicas
    state: RolloutStatus
    roles: dict[str, str]  # revision name -> Stable | Canary | Preview | Aborted | Superseded | Old
    weights: dict[str, int]  # percent of traffic each revision takes now
    desired_weights: dict[str, int]
    service_revision: str | None  # the main Service selects only this revision (BlueGreen); None: all
    preview_revision: str | None = None
    route_weights: dict[str, int] | None = None  # exact weights for an HTTPRoute (gatewayAPI)
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    progress: str = ""  # for the Progressing condition, e.g. "CanaryStep 2/3, weight 30%"
    aborted: str | None = None  # why the last rollout was aborted (Degraded, RolloutAborted)
    keep: frozenset[str] = field(default_factory=frozenset)  # revisions never pruned now


def replace(obj, **changes):  # noqa: ANN001, ANN201 - frozen dataclasses and frozen pydantic models alike
    if dataclasses.is_dataclass(obj):
        return dataclasses.replace(obj, **changes)
    return obj.model_copy(update=changes)
