"""The runner's schedule: a poke from the analyst, the smoke gate or the autoscaler is never lost to the pass
that was running when it came (its verdict arrives with no watch event, so nothing else would wake the key)."""

from __future__ import annotations

import threading
import time

import kubernetes.client as k8s
import pytest

from modeldeploy.clients import KubeClient
from modeldeploy.handlers.options import OperatorOptions
from modeldeploy.handlers.runner import Controller
from modeldeploy.reconcile import OperatorMetrics
from modeldeploy.reconcile.reconciler import Outcome

pytestmark = pytest.mark.unit

KEY = ("default", "quickstart")


class PokedMidPass:
    """A reconciler whose pass is interrupted by a verdict: the poke lands after the pass has read, before
    it returns its own schedule."""

    def __init__(self, controller: Controller, outcome: Outcome):
        self.controller, self.outcome, self.passes = controller, outcome, 0

    def reconcile(self, key: tuple[str, str]) -> Outcome:
        self.passes += 1
        if self.passes == 1:
            poker = threading.Thread(target=self.controller.poke, args=(key,))
            poker.start()
            poker.join()
        return self.outcome


def _controller() -> Controller:
    return Controller(OperatorOptions(all_namespaces=True), KubeClient(k8s.ApiClient()), OperatorMetrics())


@pytest.mark.parametrize("outcome", [Outcome("unchanged"), Outcome("applied", 3, requeue_after=300.0)],
                         ids=["nothing-scheduled", "a-step-5-minutes-away"])
def test_a_poke_during_the_pass_makes_the_next_tick_look_again(outcome: Outcome) -> None:
    controller = _controller()
    controller.reconciler = PokedMidPass(controller, outcome)
    controller.reconcile(KEY)
    assert controller.wakeups.at(KEY) == 0.0  # due at the runner's next one-second tick, not at the resync
    controller.reconcile(KEY)  # that tick's pass saw the verdict: its own schedule stands
    if outcome.requeue_after is None:
        assert controller.wakeups.at(KEY) is None
    else:
        assert controller.wakeups.at(KEY) > time.monotonic() + outcome.requeue_after - 5


def test_a_pass_without_a_poke_keeps_its_own_schedule() -> None:
    controller = _controller()
    controller.reconciler = PokedMidPass(controller, Outcome("unchanged"))
    controller.reconciler.passes = 1  # no poke this time
    controller.reconcile(KEY)
    assert controller.wakeups.at(KEY) is None
