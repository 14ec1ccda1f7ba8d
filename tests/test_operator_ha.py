"""Two operator replicas with kopf peering: one works, the other waits, and takes over."""

from __future__ import annotations

import time

import pytest

from support.operator_process import OperatorProcess, wait_for, writes_in
from test_operator import DEPLOYMENTS, create, quickstart

pytestmark = pytest.mark.integration

PEERING = "/apis/kopf.dev/v1/clusterkopfpeerings"
LIFETIME = 4


def writes_made(op: OperatorProcess) -> float:
    return writes_in(op.metrics())


def pair(api) -> tuple[OperatorProcess, OperatorProcess]:
    """Two peering replicas, the first with the higher priority."""
    lifetime = ("--peering-lifetime", str(LIFETIME))
    return (OperatorProcess(api, standalone=False, extra=("--priority", "200", *lifetime)),
            OperatorProcess(api, standalone=False, extra=("--priority", "100", *lifetime)))


@pytest.mark.parametrize("how", ["graceful", "crash"])
def test_one_replica_is_active_and_the_standby_takes_over(apiserver, how, record_property):
    code, body = apiserver.request("POST", PEERING, {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                                                     "metadata": {"name": "modeldeploy"}})
    assert code == 201, body
    active, standby = pair(apiserver)
    try:
        active.start()
        standby.start()
        time.sleep(2)  # let both see each other's peering records
        create(apiserver, quickstart("first"))
        wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/first-v1"), what="first reconciled by the active replica")
        time.sleep(1)
        assert writes_made(active) >= 7
        assert writes_made(standby) == 0, "the standby must not write while the active replica runs"

        stopped = time.monotonic()
        active.stop() if how == "graceful" else active.kill()
        create(apiserver, quickstart("second"))
        wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/second-v1"), timeout=LIFETIME + 30,
                 what="second reconciled by the standby")
        takeover = time.monotonic() - stopped
        record_property(f"takeover_seconds_{how}", round(takeover, 2))
        print(f"takeover after {how} stop: {takeover:.2f}s (peering lifetime {LIFETIME}s)")
        # All six children and the status: the standby now does the whole job.
        wait_for(lambda: writes_made(standby) >= 7, what="the standby's writes")
        if how == "crash":
            assert takeover <= LIFETIME + 20
        else:
            assert takeover <= 10
    finally:
        active.close()
        standby.close()


def test_two_replicas_without_a_peering_object_never_both_write(apiserver):
    """A hand install: the peering CRD exists, its object does not. kopf alone would run both active."""
    first, second = pair(apiserver)
    try:
        first.start()
        second.start()
        assert apiserver.get(f"{PEERING}/modeldeploy"), "the operator made the peering object"
        time.sleep(2)
        create(apiserver, quickstart("first"))
        wait_for(lambda: apiserver.get(f"{DEPLOYMENTS}/first-v1"), what="first reconciled")
        time.sleep(1.5)
        writers = [op for op in (first, second) if writes_made(op) > 0]
        assert len(writers) == 1, f"{len(writers)} replicas wrote"
    finally:
        first.close()
        second.close()
