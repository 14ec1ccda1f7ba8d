"""`modeldeploy rollout status`: where the rollout stands and, watching, how it ends.

Like `kubectl rollout status`: it follows the rollout until it completes
(exit 0) or is rolled back (exit 1, with the reason), or --timeout passes.
It reads the ModelDeployment every POLL_SECONDS: one GET, what any user
with `get` may do, and nothing is lost when a watch connection would drop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .exits import CommandFailure, ExitCode
from .report import describe, progress_line
from .session import Session
from .standing import Outcome, Standing

POLL_SECONDS = 1.0


def status(session: Session, *, watch: bool, timeout: float | None, out: Callable[[str], None],
           poll: float = POLL_SECONDS) -> int:
    deadline = time.monotonic() + timeout if timeout else None
    standing = _first_reading(session, watch, deadline, out, poll)
    for line in describe(standing):
        out(line)
    last = None
    while True:
        outcome = standing.outcome()
        if outcome is Outcome.COMPLETE:
            out(done_line(standing))
            return ExitCode.OK
        if outcome is Outcome.FAILED:
            raise CommandFailure(ExitCode.ROLLOUT_FAILED, failed_reason(standing))
        if not watch:
            return ExitCode.OK
        line = progress_line(standing)
        if line != last:
            out(line)
            last = line
        if deadline is not None and time.monotonic() >= deadline:
            raise CommandFailure(ExitCode.TIMEOUT, f"the rollout of {standing.ref} did not finish within "
                                                   f"{timeout:g}s; it stands at: {line}")
        time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
        standing = _read_again(session, standing)


def _first_reading(session: Session, watch: bool, deadline: float | None, out: Callable[[str], None],
                   poll: float) -> Standing:
    """Watching, an API server that does not answer yet is waited for (said once), up to --timeout."""
    told = False
    while True:
        try:
            return Standing.of(session.get())
        except CommandFailure as failure:
            if not watch or failure.code is not ExitCode.UNAVAILABLE:
                raise
            if deadline is not None and time.monotonic() >= deadline:  # --timeout passed, as documented
                raise CommandFailure(ExitCode.TIMEOUT, f"{failure.reason}, up to --timeout") from None
            if not told:
                out(f"{failure.reason}; trying again every {poll:g}s (Ctrl-C stops)")
                told = True
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))


def _read_again(session: Session, before: Standing) -> Standing:
    """The next reading; an API server that does not answer for a moment does not end the watch."""
    try:
        return Standing.of(session.get())
    except CommandFailure as failure:
        if failure.code is not ExitCode.UNAVAILABLE:
            raise
        return before


def done_line(s: Standing) -> str:
    if s.condition("Progressing").get("reason") == "ScaledToZero":
        return f"{s.ref} is scaled to zero (spec.replicas is 0): nothing serves, nothing rolls out"
    stable = s.revision(s.state.stable)
    serving = f"revision {stable.name} (version {stable.version})" if stable else f"version {s.version}"
    return f"rollout complete: {serving} takes all traffic, {s.ready_replicas}/{s.replicas} replicas ready"


def failed_reason(s: Standing) -> str:
    aborted = s.role("Aborted")
    if s.state.phase == "Aborted" and aborted is not None:
        return (f"revision {aborted.name} (version {aborted.version}) was rolled back to {s.state.stable}: "
                f"{s.state.aborted_reason or 'aborted'}; `modeldeploy rollout retry {s.name}` tries it again, "
                f"`modeldeploy rollout undo {s.name}` writes the serving spec back")
    progressing = s.condition("Progressing")
    return f"the rollout of {s.ref} cannot progress: {progressing.get('reason')}: {progressing.get('message')}"
