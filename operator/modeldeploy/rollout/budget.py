"""The GPU budget: how far replicas may move now, and how a weight becomes pod counts.

Invariant, at every instant: pods of all revisions (pending and terminating
included) <= N + maxSurge, and ready pods taking traffic >= N - maxUnavailable.
A decrease frees no room until its pods are gone; the Deployment controller
removes not-ready pods first, so only ready ones count against the floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .views import RevisionView


def canary_pods(total: int, weight: int) -> int:
    """The closest split by pod count: never 0 for a weight above 0, never all below 100 (Argo's rule)."""
    if weight <= 0 or total <= 0:
        return 0
    if weight >= 100:
        return total
    if total == 1:
        return 1  # one pod cannot be split: the canary surges beside the stable one
    return min(total - 1, max(1, math.floor(total * weight / 100 + 0.5)))


def routed_pods(total: int, weight: int) -> int:
    """With exact weights from a router, each side is sized for its share, rounded up."""
    if weight <= 0 or total <= 0:
        return 0
    return min(total, math.ceil(total * weight / 100))


@dataclass(frozen=True)
class Budget:
    total: int  # N: spec.replicas
    surge: int  # maxSurge
    unavailable: int  # maxUnavailable

    @property
    def ceiling(self) -> int:
        return self.total + self.surge

    @property
    def floor(self) -> int:
        return max(0, self.total - self.unavailable)


def allocate(revisions: Iterable[RevisionView], want: Mapping[str, int], budget: Budget, *,
             serving: set[str] | None, exempt: set[str] = frozenset(), grow_order: list[str] | None = None,
             floor: bool = True) -> dict[str, int]:
    """Replicas to ask of each revision now, moving toward `want` without breaking the budget.

    `serving`: revisions whose ready pods take traffic (None: all); `exempt`: revisions whose pods may go
    whatever the floor (a failing canary). Decreases come first; increases fill the room in `grow_order`.
    """
    revs = {r.name: r for r in revisions}
    asked = {name: r.replicas for name, r in revs.items()}
    in_service = set(revs) if serving is None else serving
    ready = sum(r.ready for name, r in revs.items() if name in in_service and name not in exempt)
    spare = ready - budget.floor if floor else math.inf

    for name, r in revs.items():
        goal = want.get(name, 0)
        if goal >= asked[name]:
            continue
        if r.live <= goal:  # only pods not made yet go: no pod is removed
            asked[name] = goal
            continue
        not_ready = r.live - r.ready
        counted = name in in_service and name not in exempt
        limit = math.inf if not counted else max(0.0, spare)
        removable = not_ready + limit  # not-ready pods go first
        asked[name] = max(goal, min(asked[name], int(max(goal, r.live - removable))))
        removed_ready = max(0, (r.live - asked[name]) - not_ready)
        if counted:
            spare -= removed_ready

    room = budget.ceiling - sum(r.committed(asked[name]) for name, r in revs.items())
    order = grow_order or list(want)
    for name in order:
        r = revs.get(name)
        goal = want.get(name, 0)
        current = asked.get(name, 0)
        if goal <= current:
            continue
        before = r.committed(current) if r else 0
        grown = current
        while grown < goal:
            after = r.committed(grown + 1) if r else grown + 1
            if after - before > room:
                break
            grown += 1
        if r:
            room -= r.committed(grown) - before
        else:
            room -= grown - before
        asked[name] = grown
    return asked


def ready_share(revisions: Iterable[RevisionView], serving: set[str] | None) -> dict[str, int]:
    """Percent of the serving ready pods each revision has: the traffic a Service spreads over them."""
    revs = [r for r in revisions if serving is None or r.name in serving]
    total = sum(r.ready for r in revs)
    if total == 0:
        return {r.name: 0 for r in revs}
    shares = {r.name: round(100 * r.ready / total) for r in revs}
    return shares
