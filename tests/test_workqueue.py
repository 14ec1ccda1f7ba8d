"""The operator's work queue (client-go's semantics) and its workers: no key is processed twice at once, none
is lost, none waits behind another, and a verdict that lands mid-pass gets a pass that starts after it."""

from __future__ import annotations

import threading
import time

import kubernetes.client as k8s
import pytest

from modeldeploy.clients import KubeClient
from modeldeploy.handlers.options import OperatorOptions
from modeldeploy.handlers.runner import Controller
from modeldeploy.handlers.workqueue import WorkQueue
from modeldeploy.reconcile import OperatorMetrics
from modeldeploy.reconcile.reconciler import Outcome

pytestmark = pytest.mark.unit

KEY = ("default", "quickstart")
OTHER = ("default", "other")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_added_many_times_waits_once() -> None:
    queue = WorkQueue()
    for _ in range(10):
        queue.add(KEY)
    queue.add(OTHER)
    assert [queue.get(0), queue.get(0), queue.get(0)] == [KEY, OTHER, None]


def test_a_key_added_while_processed_is_handed_out_again_after_done_and_never_twice_at_once() -> None:
    queue = WorkQueue()
    queue.add(KEY)
    assert queue.get(0) == KEY
    queue.add(KEY)
    queue.add(KEY)
    assert queue.get(0) is None  # still being processed: no second worker gets it
    queue.done(KEY)
    assert queue.get(0) == KEY  # once more, for what came mid-pass
    queue.done(KEY)
    assert queue.get(0) is None  # and only once


def test_delayed_adds_keep_the_earliest_moment() -> None:
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add_after(KEY, 30)
    queue.add_after(KEY, 10)
    queue.add_after(KEY, 300)  # a later schedule does not postpone the earlier one
    assert queue.due_at(KEY) == 1010.0
    assert queue.get(0) is None
    clock.now = 1010.0
    assert queue.get(0) == KEY
    queue.done(KEY)
    assert queue.get(0) is None and queue.due_at(KEY) is None  # the 30 s and 300 s adds were the same wake-up


def test_an_add_now_overtakes_a_delayed_one_and_discard_forgets_it() -> None:
    clock = Clock()
    queue = WorkQueue(clock)
    queue.add_after(KEY, 60)
    queue.add(KEY)
    assert queue.get(0) == KEY
    queue.done(KEY)
    clock.now += 61
    assert queue.get(0) is None  # the add now was that wake-up
    queue.add_after(OTHER, 5)
    queue.discard(OTHER)
    clock.now += 6
    assert queue.get(0) is None


def test_a_sleeping_worker_wakes_for_an_earlier_delayed_add() -> None:
    queue = WorkQueue()
    queue.add_after(KEY, 60)
    got: list = []
    worker = threading.Thread(target=lambda: got.append((queue.get(5), time.monotonic())))
    worker.start()
    time.sleep(0.1)
    started = time.monotonic()
    queue.add_after(OTHER, 0.2)
    worker.join()
    assert got[0][0] == OTHER and got[0][1] - started < 1.0


def _controller(**options) -> Controller:
    return Controller(OperatorOptions(all_namespaces=True, **options), KubeClient(k8s.ApiClient()),
                      OperatorMetrics())


class PokedMidPass:
    """A reconciler whose first pass is interrupted by a verdict: the poke lands after the pass has read,
    before it returns its own schedule."""

    def __init__(self, controller: Controller, outcome: Outcome):
        self.controller, self.outcome, self.passes = controller, outcome, 0

    def reconcile(self, key: tuple[str, str]) -> Outcome:
        self.passes += 1
        if self.passes == 1:
            poker = threading.Thread(target=self.controller.poke, args=(key,))
            poker.start()
            poker.join()
        return self.outcome


@pytest.mark.parametrize("outcome", [Outcome("unchanged"), Outcome("applied", 3, requeue_after=300.0)],
                         ids=["nothing-scheduled", "a-step-5-minutes-away"])
def test_a_poke_during_the_pass_gets_a_pass_at_once_after_it(outcome: Outcome) -> None:
    controller = _controller()
    controller.reconciler = PokedMidPass(controller, outcome)
    controller.queue.add(KEY)
    assert controller.work(0)
    assert controller.queue.due_at(KEY) <= time.monotonic()  # due now, not at the step nor the resync
    assert controller.work(0) and controller.reconciler.passes == 2  # that pass saw the verdict
    due = controller.queue.due_at(KEY)
    if outcome.requeue_after is None:
        assert due is None
    else:
        assert due > time.monotonic() + outcome.requeue_after - 5  # its own schedule stands


def test_a_pass_without_a_poke_keeps_its_own_schedule() -> None:
    controller = _controller()
    controller.reconciler = PokedMidPass(controller, Outcome("unchanged"))
    controller.reconciler.passes = 1  # no poke this time
    controller.queue.add(KEY)
    controller.work(0)
    assert controller.queue.due_at(KEY) is None


class HangingWrites:
    """KEY's pass blocks (a write the API server never answers) until released; OTHER steps every 0.2 s."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.other_passes: list[float] = []

    def reconcile(self, key: tuple[str, str]) -> Outcome:
        if key == KEY:
            self.release.wait(30)
            return Outcome("applied", 1)
        self.other_passes.append(time.monotonic())
        return Outcome("applied", 1, requeue_after=0.2)


def test_a_key_whose_writes_hang_does_not_delay_another_keys_timed_step() -> None:
    controller = _controller()
    assert controller.options.workers == 4  # the default
    hanging = controller.reconciler = HangingWrites()
    workers = [threading.Thread(target=controller.work_forever, daemon=True) for _ in range(controller.options.workers)]
    for worker in workers:
        worker.start()
    try:
        controller.queue.add(KEY)
        time.sleep(0.1)
        controller.queue.add(OTHER)
        time.sleep(3.0)
        controller.poke(KEY)  # more events for the stuck key: none takes a second worker from OTHER
        controller.poke(KEY)
        time.sleep(1.0)
    finally:
        hanging.release.set()
        controller.queue.close()
        for worker in workers:
            worker.join(5)
    steps = hanging.other_passes
    assert len(steps) >= 10
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert max(gaps) < 0.2 + 1.0, gaps  # each timed step within 1 s of its moment, while KEY hangs


def test_fewer_than_one_worker_is_refused() -> None:
    with pytest.raises(ValueError, match="--workers"):
        OperatorOptions(all_namespaces=True, workers=0)


@pytest.mark.parametrize("given, env", [(["--workers", "0"], {}), ([], {"MODELDEPLOY_WORKERS": "x"})],
                         ids=["flag-zero", "env-not-a-number"])
def test_a_bad_worker_count_is_a_usage_error_naming_the_flag(given: list[str], env: dict[str, str]) -> None:
    import os
    import subprocess

    from test_cli_messages import EXE

    proc = subprocess.run([EXE, "operator", "-A", *given], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("modeldeploy operator: error: argument --workers: ")
