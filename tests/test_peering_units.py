"""kopf's pause rule, as the operator's own loops read it from the peering object."""

from __future__ import annotations

import datetime

import pytest

from modeldeploy.handlers.peering import standing_by

pytestmark = pytest.mark.unit
NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def record(priority: int, seconds_ago: float, lifetime: int = 30) -> dict:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


@pytest.mark.parametrize("peers, expected", [
    ({}, False),
    ({"me": record(100, 0)}, False),
    ({"me": record(100, 0), "other": record(50, 1)}, False),
    ({"me": record(100, 0), "other": record(200, 1)}, True),
    ({"me": record(100, 0), "other": record(200, 31)}, False),  # dead: its lifetime passed
    ({"me": record(100, 0), "twin": record(100, 1)}, True),  # equal priorities pause everybody
    ({"me": record(100, 0), "odd": {"priority": "x"}}, False),
])
def test_a_replica_stands_by_for_a_live_peer_of_higher_or_equal_priority(peers, expected):
    assert standing_by(peers, "me", 100, NOW) is expected
