"""`modeldeploy rollout history`: the revisions kept, and what changed from one to the next."""

from __future__ import annotations

from ..yamlio import dump
from .exits import CommandFailure, ExitCode
from .report import table
from .revisions import asked_by_spec, changes, kept
from .session import Session
from .standing import Standing


def history(session: Session, revision: int | None) -> list[str]:
    body = session.get()
    s = Standing.of(body)
    revisions = kept(session.revision_deployments())
    if revision is not None:
        found = next((r for r in revisions if r.number == revision), None)
        if found is None or found.spec is None:
            raise CommandFailure(ExitCode.NOT_FOUND, f"revision {revision} of {s.ref} is not kept (or records no "
                                                     "spec); `modeldeploy rollout history` lists those kept")
        return [f"revision {found.number} ({found.name}, version {found.version}) of {s.ref} served this spec "
                "(besides replicas, autoscaling, rollout and networkPolicy):", dump({"spec": found.spec}).rstrip()]
    if not revisions:
        return [f"{s.ref} has no revision Deployment yet"]
    asked = asked_by_spec(body, revisions)
    rows = [["REVISION", "NAME", "VERSION", "ROLE", "REPLICAS", "CHANGES"]]
    before = None
    for r in revisions:
        status = s.revision(r.name)
        if before is None:
            what = "initial" if r.number == 1 else "oldest kept"
        else:
            what = "; ".join(changes(before.spec, r.spec)) or "same spec (a new API key or runtime image)"
        rows.append([f"{r.number}{'*' if asked is r else ''}", r.name, r.version, status.role if status else "Old",
                     str(r.replicas), what])
        before = r
    lines = [f"{s.ref}: {len(revisions)} revision(s) kept (revisionHistoryLimit "
             f"{s.rollout.revision_history_limit} besides those serving)"]
    lines += table(rows)
    if asked is not None:
        lines.append("* the revision the spec asks for now")
    return lines
