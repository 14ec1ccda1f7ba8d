"""`modeldeploy rollout undo`: an earlier revision's serving spec, written back into the ModelDeployment.

As `kubectl rollout undo` does for a Deployment: the change is made to the
spec, so a GitOps tool sees it and the operator rolls it out by the
strategy like any other change (reusing that revision's Deployment when what
its pods run is unchanged). The parts of the spec that are not served
(replicas, autoscaling, rollout, networkPolicy) stay as they are.
"""

from __future__ import annotations

import json

from ..api import InvalidSpec, parse_model_deployment
from ..builders.deployment import NOT_SERVING_FIELDS
from .exits import CommandFailure, ExitCode
from .revisions import Revision, asked_by_spec, changes, kept, serving_spec_of
from .session import Session
from .standing import Standing


def undo(session: Session, to_revision: int | None) -> list[str]:
    body = session.get()
    s = Standing.of(body)
    revisions = kept(session.revision_deployments())
    if not revisions:
        raise CommandFailure(ExitCode.NOT_FOUND, f"{s.ref} has no revision Deployment yet: nothing to go back to")
    current = asked_by_spec(body, revisions)
    target = _pick(s, revisions, current, to_revision)
    label = f"revision {target.number} ({target.name}, version {target.version})"
    if target.spec is None:
        raise CommandFailure(ExitCode.NOT_FOUND, f"{label} of {s.ref} records no spec (its Deployment lacks the "
                                                 "revision-spec annotation): it cannot be written back")
    now = serving_spec_of(body)
    if now is not None and now == target.recorded:
        raise CommandFailure(ExitCode.NOTHING_TO_DO, f"the spec of {s.ref} already asks for {label}")
    spec = {k: v for k, v in (body.get("spec") or {}).items() if k in NOT_SERVING_FIELDS} | target.spec
    try:
        parse_model_deployment({"apiVersion": body["apiVersion"], "kind": body["kind"],
                                "metadata": body["metadata"], "spec": spec})
    except InvalidSpec as err:
        raise CommandFailure(ExitCode.REFUSED, f"{label}'s spec does not validate with the rest of today's spec "
                                               f"of {s.ref}: {err}") from None
    # Replaced whole, and only if nobody wrote since it was read: a merge patch would keep fields the
    # earlier revision did not have, and a concurrent edit would be lost silently.
    session.patch([{"op": "test", "path": "/metadata/resourceVersion", "value": body["metadata"]["resourceVersion"]},
                   {"op": "replace", "path": "/spec", "value": spec}], json_patch=True)
    diff = changes(json.loads(now) if now else None, target.spec)
    return [f"rolled {s.ref} back to {label}: " + "; ".join(diff),
            f"the operator rolls it out by {s.rollout.strategy}; `modeldeploy rollout status {s.name}` follows it"]


def _pick(s: Standing, revisions: list[Revision], current: Revision | None, number: int | None) -> Revision:
    if number is not None:
        found = next((r for r in revisions if r.number == number), None)
        if found is None:
            raise CommandFailure(ExitCode.NOT_FOUND, f"revision {number} of {s.ref} is no longer kept "
                                                     f"(spec.rollout.revisionHistoryLimit is "
                                                     f"{s.rollout.revision_history_limit}); {_listing(revisions)}")
        return found
    stable = next((r for r in revisions if r.name == s.state.stable), None)
    if current is not None and stable is not None and current.name != stable.name:
        return stable  # a rollout in progress or rolled back: back to the revision that serves
    base = current or stable or revisions[-1]
    earlier = [r for r in revisions if r.number < base.number]
    if not earlier:
        raise CommandFailure(ExitCode.NOT_FOUND, f"no revision before revision {base.number} ({base.name}) of "
                                                 f"{s.ref} is kept (spec.rollout.revisionHistoryLimit is "
                                                 f"{s.rollout.revision_history_limit}); {_listing(revisions)}")
    return earlier[-1]


def _listing(revisions: list[Revision]) -> str:
    return "kept: " + ", ".join(f"{r.number} ({r.name})" for r in revisions)
