"""`modeldeploy rollout pause | resume`: spec.rollout.paused, a merge patch of the spec.

A spec change, unlike the request annotation: it stays until resumed, and a
GitOps tool sees it (and may put it back: pause in Git for a lasting hold).
"""

from __future__ import annotations

from .exits import CommandFailure, ExitCode
from .session import Session
from .standing import Standing


def pause(session: Session) -> list[str]:
    s = Standing.of(session.get())
    if s.paused:
        raise CommandFailure(ExitCode.NOTHING_TO_DO, f"{s.ref} is already paused (spec.rollout.paused)")
    if s.rollout.strategy == "Recreate":
        raise CommandFailure(ExitCode.NOTHING_TO_DO, f"{s.ref} rolls out by Recreate, which does not pause: its old "
                                                     "pods stop before the new ones start, with nothing in between "
                                                     "to hold")
    session.patch({"spec": {"rollout": {"paused": True}}})
    if s.rolling:
        where = s.progress or s.state.phase
        return [f"paused {s.ref} where it stands ({where}): no step advances and nothing is rolled back "
                f"for its progressDeadline until `modeldeploy rollout resume {s.name}`"]
    return [f"paused {s.ref}: no rollout is in progress; the next one holds at its first step until "
            f"`modeldeploy rollout resume {s.name}`"]


def resume(session: Session) -> list[str]:
    s = Standing.of(session.get())
    if not s.paused:
        raise CommandFailure(ExitCode.NOTHING_TO_DO, f"{s.ref} is not paused")
    # null removes the field (false is its default): the spec reads as before the pause, as Git has it.
    session.patch({"spec": {"rollout": {"paused": None}}})
    if s.rolling:
        where = (s.progress or s.state.phase).split(": paused")[0]  # the step, not why it was held
        return [f"resumed {s.ref}: the rollout goes on from {where}"]
    return [f"resumed {s.ref}"]
