"""What a rollout tells the user it is waiting for, or why it gave up (status.rollout.message)."""

from __future__ import annotations

from ..api import Rollout, RolloutStatus
from .views import RevisionView


def step_message(spec: Rollout, state: RolloutStatus, canary: RevisionView | None, label: str, reached: bool,
                 index: int) -> str:
    if spec.paused:
        return f"{label}: paused (spec.rollout.paused)"
    if not reached:
        short = sum(p.unschedulable for p in canary.pods) if canary else 0
        return f"{label}: waiting for the canary's pods to serve" + (
            f"; {short} unschedulable (not enough GPUs)" if short else "")
    pause = spec.steps[index].pause if index < len(spec.steps) else "0s"
    if pause is None:
        return f"{label}: waiting for `modeldeploy rollout promote`"
    if spec.analysis.require_traffic and not state.passed_intervals:
        return f"{label}: waiting for an analysis interval with traffic"
    return f"{label}: holding {pause}"


def deadline_reason(spec: Rollout, canary: RevisionView | None) -> str:
    short = canary is not None and any(p.unschedulable for p in canary.pods)
    return (f"not serving within progressDeadline {spec.progress_deadline}"
            + (": its pods are unschedulable (not enough GPUs)" if short else ""))
