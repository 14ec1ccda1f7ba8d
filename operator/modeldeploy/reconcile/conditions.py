"""The status of a ModelDeployment: one pure function of what was asked and what was observed.

Readiness is an ordered chain of checks; the first that fails names the
reason. Conditions keep their lastTransitionTime while their status holds.
What each condition and reason means is documented in docs/operator.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pods import Finding, diagnose, not_ready_models

TRUE, FALSE = "True", "False"
CONDITION_TYPES = ("Ready", "Progressing", "Degraded")


@dataclass(frozen=True)
class Facts:
    """Everything the status depends on, gathered by the reconciler."""

    generation: int
    spec_error: str | None = None
    apply_error: str | None = None
    url: str | None = None
    grpc_address: str | None = None
    selector: str | None = None
    total: int = 1  # spec.replicas within the autoscaling bounds
    floor: int = 1  # total - maxUnavailable: the fewest pods that must serve
    stable: str | None = None  # the revision serving
    stable_version: str | None = None
    created: bool = False  # the stable revision's Deployment exists
    serving: int = 0  # ready pods taking traffic
    pods: tuple[dict, ...] = ()  # the serving revision's pods, for why they do not serve
    replicas: int = 0  # pods of every revision
    revisions: tuple[dict, ...] = ()  # status.revisions entries
    rollout: dict | None = None  # status.rollout
    progress: str = ""  # "CanaryStep 2/3, weight 30%" while a rollout runs
    aborted: str | None = None  # why the last rollout was rolled back
    events: tuple[tuple[str, str, bool], ...] = ()  # rollout events: reason, message, warning
    autoscaling: dict | None = None  # status.autoscaling
    unavailable: str | None = None  # "Reason: message" of something the spec needs and the cluster lacks


@dataclass(frozen=True)
class Verdict:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Transition:
    type: str
    status: str
    reason: str
    message: str
    warning: bool


def verdicts(facts: Facts) -> list[Verdict]:
    def three(ready: tuple, progressing: tuple, degraded: tuple) -> list[Verdict]:
        return [Verdict(t, *v) for t, v in zip(CONDITION_TYPES, (ready, progressing, degraded))]

    if facts.spec_error:
        failed = (FALSE, "InvalidSpec", facts.spec_error)
        return three(failed, failed, (TRUE, "InvalidSpec", facts.spec_error))
    if facts.apply_error:
        failed = (FALSE, "ApplyRejected", facts.apply_error)
        return three(failed, failed, (TRUE, "ApplyRejected", facts.apply_error))
    if not facts.created:
        waiting = f"creating the Deployment of version {facts.stable_version}"
        return three((FALSE, "Creating", waiting), (TRUE, "Creating", waiting), (FALSE, "AsExpected", ""))

    finding: Finding | None = diagnose(facts.pods)
    if facts.aborted:
        degraded = (TRUE, "RolloutAborted", facts.aborted)
    elif finding:
        degraded = (TRUE, finding.reason, finding.message)
    elif facts.unavailable:
        reason, _, message = facts.unavailable.partition(": ")
        degraded = (TRUE, reason, message)
    else:
        degraded = (FALSE, "AsExpected", "")
    counts = f"{facts.serving}/{facts.total} replicas ready"
    rolling = (facts.rollout or {}).get("phase") in ("Progressing", "Paused")

    if facts.total == 0:
        idle = (FALSE, "ScaledToZero", "spec.replicas is 0")
        return three(idle, idle, (FALSE, "AsExpected", ""))
    if facts.serving >= max(1, facts.floor):
        ready = (TRUE, "Available", f"{counts}; serving at {facts.url}")
    elif finding:
        ready = (FALSE, finding.reason, f"{counts}; {finding.message}")
    elif not_ready_models(facts.pods):
        ready = (FALSE, "ModelNotReady", f"{counts}; Triton is running but the model is not ready yet")
    else:
        # Mid-rollout the pods awaited are the new version's (Recreate stops the old ones first).
        coming = next((r.get("version") for r in facts.revisions if r.get("role") in ("Canary", "Preview")), None)
        ready = (FALSE, "RollingOut", f"{counts}; waiting for pods of version "
                                      f"{(coming if rolling else None) or facts.stable_version}")

    if rolling:
        phase = (facts.rollout or {}).get("phase")
        message = (facts.rollout or {}).get("message") or facts.progress
        progressing = (TRUE, "RolloutPaused" if phase == "Paused" else _progress_reason(facts.progress), message)
    elif facts.aborted:
        progressing = (FALSE, "RolloutAborted", facts.aborted)
    elif facts.serving < facts.total:
        progressing = (TRUE, "Scaling", f"{counts}; waiting for pods of version {facts.stable_version}")
    else:
        progressing = (FALSE, "RolloutComplete", f"version {facts.stable_version} rolled out")
    return three(ready, progressing, degraded) + _scaling(facts)


def _scaling(facts: Facts) -> list[Verdict]:
    """ScalingLimited, for autoscaled models: True while the autoscaler holds back for want of GPUs."""
    if facts.autoscaling is None:
        return []
    if facts.autoscaling.get("reason") == "InsufficientGPU":
        return [Verdict("ScalingLimited", TRUE, "InsufficientGPU", facts.autoscaling.get("message") or "")]
    return [Verdict("ScalingLimited", FALSE, "AsExpected", "")]


def _progress_reason(progress: str) -> str:
    return progress.split(" ", 1)[0] if progress and progress[0].isupper() else "RollingOut"


def compute_status(facts: Facts, previous: dict | None, now: str) -> tuple[dict, list[Transition]]:
    """The whole status the operator owns, and the condition transitions since `previous`."""
    before = {c.get("type"): c for c in (previous or {}).get("conditions") or []}
    conditions, transitions = [], []
    for v in verdicts(facts):
        old = before.get(v.type)
        flipped = old is None or old.get("status") != v.status
        conditions.append({
            "type": v.type, "status": v.status, "reason": v.reason, "message": v.message,
            "lastTransitionTime": now if flipped else old.get("lastTransitionTime", now),
            "observedGeneration": facts.generation,
        })
        # Events for Ready and Degraded only (Progressing repeats Ready's reason), and for a
        # condition's first appearance only when it is Ready: one Event per real change.
        if v.type != "Progressing" and (old is not None or v.type == "Ready") \
                and (flipped or old.get("reason") != v.reason):
            warning = (v.type == "Degraded" and v.status == TRUE) or \
                      (v.type == "Ready" and v.status == FALSE and v.reason not in _PROGRESS_REASONS)
            transitions.append(Transition(v.type, v.status, v.reason, v.message, warning))
    revisions = list(facts.revisions)
    status: dict = {
        "observedGeneration": facts.generation,
        "conditions": conditions,
        "url": facts.url,
        "grpcAddress": facts.grpc_address,
        "selector": facts.selector,
        "replicas": facts.replicas,
        "readyReplicas": facts.serving,
        "revisions": revisions,
        "traffic": ",".join(f"{r['name']}={r['weight']}" for r in revisions if r.get("weight") or
                            r.get("role") in ("Stable", "Canary", "Preview")) or None,
        "rollout": facts.rollout,
        "autoscaling": facts.autoscaling,
    }
    if facts.spec_error or facts.apply_error:
        # Nothing was observed this time: keep what was reported (the old revision may still serve).
        for key in ("replicas", "readyReplicas", "revisions", "traffic", "rollout", "url", "grpcAddress", "selector",
                    "autoscaling"):
            status[key] = (previous or {}).get(key)
    return status, transitions


_PROGRESS_REASONS = {"Creating", "RollingOut", "ModelNotReady", "ScaledToZero"}


def status_patch(current: dict | None, desired: dict) -> dict | None:
    """The merge patch from the observed status to the desired one; None when nothing changed."""
    current = current or {}
    patch = {k: _merge_patch(current.get(k), v) for k, v in desired.items() if current.get(k) != v}
    # Fields the operator no longer reports are cleared (merge patch: null deletes).
    patch.update({k: None for k in current if k not in desired and k in OWNED_FIELDS and current[k] is not None})
    return patch or None


def _merge_patch(current: object, desired: object) -> object:
    """RFC 7386 from current to desired: nested keys no longer there become null (a merge patch keeps
    whatever it does not mention, so a step's stale field would otherwise outlive the step)."""
    if not isinstance(current, dict) or not isinstance(desired, dict):
        return desired
    patch = {k: _merge_patch(current.get(k), v) for k, v in desired.items() if current.get(k) != v}
    patch.update({k: None for k in current if k not in desired})
    return patch


OWNED_FIELDS = {"observedGeneration", "conditions", "url", "grpcAddress", "selector", "replicas", "readyReplicas",
                "revisions", "traffic", "rollout", "autoscaling"}
