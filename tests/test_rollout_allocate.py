"""The replica split, counts in and counts out (the way Argo Rollouts tests its TestCalculateReplicaCountsForCanary):
each row is what the revisions have now, what the rollout wants, the budget, and what `allocate` asks of them."""

from __future__ import annotations

import pytest

from modeldeploy.rollout.budget import Budget, allocate
from modeldeploy.rollout.views import PodView, RevisionView

pytestmark = pytest.mark.unit


def rev(name: str, replicas: int, ready: int = 0, starting: int = 0, terminating: int = 0) -> RevisionView:
    pods = ([PodView(f"{name}-r{i}", ready=True) for i in range(ready)]
            + [PodView(f"{name}-s{i}", ready=False) for i in range(starting)]
            + [PodView(f"{name}-t{i}", ready=True, terminating=True) for i in range(terminating)])
    return RevisionView(name, f"hash-{name}", int(name[1:]), name[1:], replicas, tuple(pods))


CASES = {
    # N=4, maxSurge 1, maxUnavailable 0: the first canary pod takes the surge; the stable one keeps all 4.
    "canary-first-pod-surges": ([rev("v1", 4, ready=4), rev("v2", 0)], {"v1": 3, "v2": 1}, Budget(4, 1, 0),
                                dict(serving=None, grow_order=["v2", "v1"]), {"v1": 4, "v2": 1}),
    # ...and once it is ready there is one ready pod to spare: the stable one gives one up.
    "canary-ready-stable-steps-down": ([rev("v1", 4, ready=4), rev("v2", 1, ready=1)], {"v1": 3, "v2": 1},
                                       Budget(4, 1, 0), dict(serving=None), {"v1": 3, "v2": 1}),
    # Below the floor only pods that are not ready go (the Deployment controller removes those first).
    "below-the-floor-not-ready-go-first": ([rev("v1", 4, ready=3, starting=1)], {"v1": 2}, Budget(4, 0, 0),
                                           dict(serving=None), {"v1": 3}),
    # A failing canary goes whatever the floor; its pod still holds its GPU, so nothing grows yet.
    "failing-canary-exempt-holds-room-until-gone": ([rev("v1", 3, ready=3), rev("v2", 1, ready=1)],
                                                    {"v1": 4, "v2": 0}, Budget(4, 0, 0),
                                                    dict(serving=None, exempt={"v2"}), {"v1": 3, "v2": 0}),
    # A decrease frees no room until its pods are gone: terminating pods count against the ceiling.
    "terminating-pods-hold-the-surge": ([rev("v1", 2, ready=2, terminating=1), rev("v2", 0)], {"v1": 2, "v2": 2},
                                        Budget(2, 1, 0), dict(serving=None), {"v1": 2, "v2": 0}),
    # Blue-green: the active revision serves, so it keeps its pods while the preview is not yet switched to...
    "blue-green-active-keeps-its-pods": ([rev("v1", 2, ready=2), rev("v2", 2, ready=2)], {"v1": 0, "v2": 2},
                                         Budget(2, 2, 0), dict(serving={"v1"}), {"v1": 2, "v2": 2}),
    # ...and after the switch the old one may go at once.
    "blue-green-after-the-switch": ([rev("v1", 2, ready=2), rev("v2", 2, ready=2)], {"v1": 0, "v2": 2},
                                    Budget(2, 2, 0), dict(serving={"v2"}), {"v1": 0, "v2": 2}),
    # Recreate (no floor): the old pods go at once, the new ones wait until they are gone.
    "recreate-waits-for-the-old-pods": ([rev("v1", 2, ready=2), rev("v2", 0)], {"v1": 0, "v2": 2},
                                        Budget(2, 0, 0), dict(serving=None, floor=False), {"v1": 0, "v2": 0}),
    "recreate-once-they-are-gone": ([rev("v1", 0), rev("v2", 0)], {"v1": 0, "v2": 2}, Budget(2, 0, 0),
                                    dict(serving=None, floor=False), {"v1": 0, "v2": 2}),
    # Room for one more pod goes in grow order.
    "room-goes-in-grow-order": ([rev("v1", 2, ready=2), rev("v2", 0), rev("v3", 0)], {"v1": 2, "v2": 1, "v3": 1},
                                Budget(2, 1, 0), dict(serving=None, grow_order=["v3", "v2"]),
                                {"v1": 2, "v2": 0, "v3": 1}),
    # maxUnavailable 1: one ready stable pod may go before the canary is ready.
    "max-unavailable-lets-one-go": ([rev("v1", 4, ready=4), rev("v2", 0)], {"v1": 3, "v2": 1}, Budget(4, 0, 1),
                                    dict(serving=None, grow_order=["v2"]), {"v1": 3, "v2": 0}),
    # A revision the rollout does not name yet is made from nothing, within the room.
    "a-revision-not-made-yet": ([rev("v1", 2, ready=2)], {"v1": 2, "v2": 2}, Budget(2, 1, 0),
                                dict(serving=None), {"v1": 2, "v2": 1}),
}


@pytest.mark.parametrize("case", CASES)
def test_allocate(case: str) -> None:
    revisions, want, budget, options, expected = CASES[case]
    assert allocate(revisions, want, budget, **options) == expected
    committed = sum(r.committed(expected.get(r.name, 0)) for r in revisions) + \
        sum(n for name, n in expected.items() if name not in {r.name for r in revisions})
    assert committed <= budget.ceiling  # the GPU budget holds at every answer
