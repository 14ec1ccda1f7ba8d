"""When the operator lists a kind again, and what a fresh list does to its cache."""

from __future__ import annotations

import pytest

from modeldeploy.handlers.relist import BURST_QUIET_SECONDS, RelistSchedule
from modeldeploy.reconcile import ObservedCache

pytestmark = pytest.mark.unit
KINDS = ("ModelDeployment", "Service", "Pod")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_first_listing_draining_after_sync_is_not_a_relist():
    clock = Clock()
    schedule = RelistSchedule(period_seconds=600, clock=clock)
    schedule.first_listing("Service")  # the operator's own first listing found Services
    schedule.listed("Service")  # before sync: ignored
    schedule.synced()
    for _ in range(50):
        clock.now += 0.01
        schedule.listed("Service")
    clock.now += 10
    assert schedule.due(KINDS) == ()


def test_a_kind_first_listed_empty_is_relisted_after_a_burst_however_soon_after_sync():
    # The operator started on an empty cluster; a watch restarted (410 Gone) a second later: the objects
    # listed then are a relist, and a deletion in the gap only a list of our own can see.
    clock = Clock()
    schedule = RelistSchedule(period_seconds=600, clock=clock)
    schedule.synced()
    clock.now += 1
    schedule.listed("Service")
    clock.now += BURST_QUIET_SECONDS + 0.1
    assert schedule.due(KINDS) == ("Service",)


def test_a_listing_burst_later_means_the_watch_relisted_and_is_followed_once_it_is_over():
    clock = Clock()
    schedule = RelistSchedule(period_seconds=600, clock=clock)
    schedule.synced()
    clock.now += 30
    schedule.listed("Service")
    clock.now += 1
    schedule.listed("Service")
    assert schedule.due(KINDS) == (), "not while the burst goes on"
    clock.now += BURST_QUIET_SECONDS + 0.1
    assert schedule.due(KINDS) == ("Service",)
    assert schedule.due(KINDS) == (), "once"


def test_every_kind_on_the_period_and_after_an_outage():
    clock = Clock()
    schedule = RelistSchedule(period_seconds=60, clock=clock)
    assert schedule.due(KINDS) == (), "nothing before the first sync"
    schedule.synced()
    clock.now += 59
    assert schedule.due(KINDS) == ()
    clock.now += 2
    assert schedule.due(KINDS) == KINDS
    clock.now += 5
    schedule.everything()
    assert schedule.due(KINDS) == KINDS


def _svc(name: str, rv: str, owner: str = "m") -> dict:
    return {"kind": "Service", "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv,
                                            "labels": {"serving.modeldeploy.io/modeldeployment": owner}}}


def test_a_fresh_list_drops_what_it_lacks_unless_newer_than_the_list():
    cache = ObservedCache()
    cache.put_md({"kind": "ModelDeployment", "metadata": {"name": "m", "namespace": "ns", "resourceVersion": "1"}})
    cache.put(_svc("gone", "2"))
    cache.put(_svc("kept", "3"))
    cache.put(_svc("newer", "9"))
    changed = cache.relisted("Service", [_svc("kept", "3")], list_version="5")
    assert changed == {("ns", "m")}
    assert set(name for _, name in cache.snapshot(("ns", "m")).children) == {"kept", "newer"}
    assert cache.relisted("Service", [_svc("kept", "3")], list_version="5") == set(), "no news the second time"


def test_a_fresh_list_brings_what_the_watch_never_delivered():
    cache = ObservedCache()
    changed = cache.relisted("Service", [_svc("late", "4", owner="other")], list_version="4")
    assert changed == {("ns", "other")}
