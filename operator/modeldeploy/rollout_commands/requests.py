"""`modeldeploy rollout promote | abort | retry`: a request the operator acts on once.

The request is the annotation `serving.modeldeploy.io/rollout-request:
"<action>@<id>"` on the ModelDeployment. The operator handles each id once
and records it in status.rollout.lastRequest, so a request written while the
operator is down or restarting is acted on when it is back, and never twice.
Before writing, the command reads where the rollout stands and says what the
request will do, or that there is nothing to do (exit 5, nothing written).
"""

from __future__ import annotations

import secrets
import time

from ..builders.naming import REQUEST_ANNOTATION
from ..rollout.plan import ABORT, PROMOTE, PROMOTE_FULL, RETRY
from .exits import CommandFailure, ExitCode
from .session import Session
from .standing import Standing


def request_id(action: str) -> str:
    """Unique per request: the time it was made, and random bits for two made in the same second."""
    return f"{action}@{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


def promote(session: Session, *, full: bool) -> list[str]:
    s = _valid(Standing.of(session.get()))
    action = PROMOTE_FULL if full else PROMOTE
    return _write(session, s, action, _promote_plan(s, full))


def abort(session: Session) -> list[str]:
    s = _valid(Standing.of(session.get()))
    return _write(session, s, ABORT, _abort_plan(s))


def retry(session: Session) -> list[str]:
    s = _valid(Standing.of(session.get()))
    return _write(session, s, RETRY, _retry_plan(s))


def _valid(s: Standing) -> Standing:
    """An invalid spec stops the operator from acting on it, requests included: a request written now would
    act later on whatever spec fixes it."""
    if s.invalid:
        raise CommandFailure(ExitCode.REFUSED, f"the spec of {s.ref} is invalid, and the operator acts on no "
                                               f"request until it is fixed: {s.invalid}; fix the spec (or "
                                               f"`modeldeploy rollout undo {s.name}`), then ask again")
    return s


def _write(session: Session, s: Standing, action: str, plan: str) -> list[str]:
    pending = s.pending_request
    if pending and pending.partition("@")[0] == action:
        raise CommandFailure(ExitCode.NOTHING_TO_DO, f"a {action} of {s.ref} is already pending ({pending}); the "
                                                     f"operator acts on it once it can: `modeldeploy rollout status "
                                                     f"{s.name}` follows it")
    value = request_id(action)
    session.patch({"metadata": {"annotations": {REQUEST_ANNOTATION: value}}})
    lines = [plan]
    if pending:
        lines.append(f"this replaces the request {pending}, which the operator had not acted on")
    if not s.observed:
        lines.append(f"the operator has not reported on generation {s.generation} of the spec yet; it acts on the "
                     "request when it does")
    lines.append(f"request {value} written to {s.ref} (status.rollout.lastRequest shows it once handled)")
    return lines


def _nothing(reason: str) -> CommandFailure:
    return CommandFailure(ExitCode.NOTHING_TO_DO, reason)


def _not_rolling(s: Standing, verb: str) -> CommandFailure:
    if s.state.phase == "Aborted":
        aborted = s.role("Aborted")
        name = aborted.name if aborted else "the new revision"
        return _nothing(f"nothing to {verb}: {name} of {s.ref} was rolled back ({s.state.aborted_reason}); "
                        f"`modeldeploy rollout retry {s.name}` tries it again")
    stable = s.revision(s.state.stable)
    serving = f"revision {stable.name} (version {stable.version})" if stable else f"version {s.version}"
    return _nothing(f"nothing to {verb}: no rollout of {s.ref} is in progress; {serving} serves all traffic")


def _promote_plan(s: Standing, full: bool) -> str:
    if s.observed and not s.rolling:
        raise _not_rolling(s, "promote")
    strategy = s.rollout.strategy
    canary = s.revision(s.state.canary)
    name = canary.name if canary else "the new revision"
    if strategy == "Recreate":
        raise _nothing(f"nothing to promote: {s.ref} rolls out by Recreate, which has no steps; it goes on by itself")
    if s.paused and not full:
        raise _nothing(f"the rollout of {s.ref} is paused (spec.rollout.paused): a promote would wait; "
                       f"`modeldeploy rollout resume {s.name}` goes on (or promote --full to take 100% now)")
    if strategy == "BlueGreen":
        ready = f"{canary.ready_replicas}/{s.replicas}" if canary else f"0/{s.replicas}"
        return (f"switching the Service of {s.ref} to {name} once its preview serves at full size ({ready} ready "
                f"now); the old revision stays warm for {s.rollout.blue_green.scale_down_delay}")
    weights = s.step_weights
    index = min(s.state.step or 0, len(weights) - 1)
    here = f"CanaryStep {index + 1}/{len(weights)} ({weights[index]}%)"
    if full:
        return (f"promoting {s.ref} to 100% now: {name} takes all traffic once its pods serve, skipping the "
                f"steps after {here} and their pauses; the rollout then completes")
    if index + 1 >= len(weights):
        raise _nothing(f"nothing to promote: {name} of {s.ref} is at its last step, {here}; the rollout completes "
                       "once its pods serve")
    after = f"CanaryStep {index + 2}/{len(weights)} ({weights[index + 1]}%)"
    waits = []
    if not s.state.step_reached_at:
        waits.append("this step's pods serve")
    if s.rollout.analysis.require_traffic and not s.state.passed_intervals:
        waits.append("an analysis interval with traffic passes (requireTraffic)")
    when = " once " + " and ".join(waits) if waits else " now"
    last = f"; at 100% {name} takes all traffic and the rollout completes" if weights[index + 1] == 100 else ""
    return f"promoting {s.ref}: {here} → {after}{when}{last}"


def _abort_plan(s: Standing) -> str:
    if s.observed and not s.rolling:
        raise _not_rolling(s, "abort")
    canary = s.revision(s.state.canary)
    name = f"revision {canary.name} (version {canary.version})" if canary else f"version {s.version}"
    return (f"aborting the rollout of {name} in {s.ref}: revision {s.state.stable} grows back to all "
            f"{s.replicas} replica(s) within the GPU budget, then its pods go to 0. The spec still asks for it: "
            f"`modeldeploy rollout retry {s.name}` tries it again, `modeldeploy rollout undo {s.name}` writes "
            f"{s.state.stable}'s spec back")


def _retry_plan(s: Standing) -> str:
    if s.observed and s.state.phase != "Aborted":
        raise _nothing(f"nothing to retry: no rollout of {s.ref} was rolled back (phase {s.state.phase})")
    aborted = s.role("Aborted")
    name = f"revision {aborted.name} (version {aborted.version})" if aborted else f"version {s.version}"
    return (f"retrying {name} of {s.ref}, rolled back before ({s.state.aborted_reason or 'aborted'}): the rollout "
            "starts again from its first step")
