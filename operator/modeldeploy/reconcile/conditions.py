"""The status of a ModelDeployment: one pure function of what was asked and what was observed.

Readiness is an ordered chain of checks; the first that fails names the
reason. Conditions keep their lastTransitionTime while their status holds.
What each condition and reason means is documented in docs/operator.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .pods import Finding, diagnose, not_ready_models

TRUE, FALSE = "True", "False"
CONDITION_TYPES = ("Ready", "Progressing", "Degraded")


@dataclass(frozen=True)
class Revision:
    """One observed revision Deployment."""

    version: str
    replicas: int
    ready_replicas: int


@dataclass(frozen=True)
class Facts:
    """Everything the status depends on, gathered by the reconciler."""

    generation: int
    spec_error: str | None = None
    apply_error: str | None = None
    url: str | None = None
    grpc_address: str | None = None
    selector: str | None = None
    current_version: str | None = None
    # The current revision's Deployment as observed, only once it carries the current spec.
    deployment: dict | None = None
    pods: tuple[dict, ...] = ()
    revisions: tuple[Revision, ...] = field(default_factory=tuple)


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
    deployment = facts.deployment
    if deployment is None:
        waiting = f"creating the Deployment of version {facts.current_version}"
        return three((FALSE, "Creating", waiting), (TRUE, "Creating", waiting), (FALSE, "AsExpected", ""))

    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    finding: Finding | None = diagnose(facts.pods)
    degraded = (TRUE, finding.reason, finding.message) if finding else (FALSE, "AsExpected", "")
    counts = f"{ready}/{desired} replicas ready"

    if desired == 0:
        idle = (FALSE, "ScaledToZero", "spec.replicas is 0")
        return three(idle, (FALSE, "ScaledToZero", "spec.replicas is 0"), (FALSE, "AsExpected", ""))
    if rolled_out(deployment):
        return three((TRUE, "Available", f"{counts}; serving at {facts.url}"),
                     (FALSE, "RolloutComplete", f"version {facts.current_version} rolled out"), degraded)
    deadline = next((c for c in status.get("conditions") or []
                     if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"), None)
    if finding:
        ready_v = (FALSE, finding.reason, f"{counts}; {finding.message}")
    elif deadline:
        ready_v = (FALSE, "ProgressDeadlineExceeded", f"{counts}; {deadline.get('message', '')}".strip())
    elif not_ready_models(facts.pods):
        ready_v = (FALSE, "ModelNotReady", f"{counts}; Triton is running but the model is not ready yet")
    else:
        ready_v = (FALSE, "RollingOut", f"{counts}; waiting for pods of version {facts.current_version}")
    progressing = (FALSE, "ProgressDeadlineExceeded", ready_v[2]) if deadline else \
        (TRUE, "RollingOut", f"rolling out version {facts.current_version}: {counts}")
    return three(ready_v, progressing, degraded)


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
    total_ready = sum(r.ready_replicas for r in facts.revisions)
    revisions = [
        {"version": r.version, "replicas": r.replicas, "readyReplicas": r.ready_replicas,
         "weight": round(100 * r.ready_replicas / total_ready) if total_ready else
         (100 if r.version == facts.current_version else 0)}
        for r in facts.revisions
    ]
    status: dict = {
        "observedGeneration": facts.generation,
        "conditions": conditions,
        "url": facts.url,
        "grpcAddress": facts.grpc_address,
        "selector": facts.selector,
        "replicas": sum(r.replicas for r in facts.revisions),
        "readyReplicas": total_ready,
        "revisions": revisions,
        "traffic": ",".join(f"v{r['version']}={r['weight']}" for r in revisions) or None,
    }
    return status, transitions


_PROGRESS_REASONS = {"Creating", "RollingOut", "ModelNotReady", "ScaledToZero"}


def status_patch(current: dict | None, desired: dict) -> dict | None:
    """The merge patch from the observed status to the desired one; None when nothing changed."""
    current = current or {}
    patch = {k: v for k, v in desired.items() if current.get(k) != v}
    # Fields the operator no longer reports are cleared (merge patch: null deletes).
    patch.update({k: None for k in current if k not in desired and k in OWNED_FIELDS and current[k] is not None})
    return patch or None


OWNED_FIELDS = {"observedGeneration", "conditions", "url", "grpcAddress", "selector", "replicas", "readyReplicas",
                "revisions", "traffic"}


def rolled_out(deployment: dict | None) -> bool:
    """Every desired replica runs the Deployment's current spec and is ready."""
    if deployment is None:
        return False
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    seen = int(status.get("observedGeneration") or 0) >= int(deployment["metadata"].get("generation") or 0)
    return seen and all(int(status.get(f) or 0) >= desired
                        for f in ("updatedReplicas", "availableReplicas", "readyReplicas"))
