"""decide(): tables and replayed metric series through the pure decision, with the clock passed in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modeldeploy.autoscale import Pod, PodSample, Samples, Settings, State, decide
from modeldeploy.clients.triton_metrics import TritonMetrics

pytestmark = pytest.mark.unit

QUEUE = Settings(metric="queueTime", target=50.0, min_replicas=1, max_replicas=10)


@dataclass
class Load:
    """One pod's Triton counters under a steady load: what a scrape at time t would read."""

    rate: float  # completed requests/s
    queue_ms: float
    pending: float = 0.0
    growth: float = 0.0  # arrivals beyond completions, per second: the queue grows by this
    since: float = 0.0
    base: TritonMetrics = TritonMetrics()

    def at(self, t: float) -> TritonMetrics:
        done = self.rate * (t - self.since)
        return TritonMetrics(success=self.base.success + done, inferences=self.base.inferences + done,
                             queue_us=self.base.queue_us + done * self.queue_ms * 1000,
                             request_us=self.base.request_us + done * (self.queue_ms + 2) * 1000,
                             compute_infer_us=self.base.compute_infer_us + done * 2000,
                             pending=self.pending + self.growth * (t - self.since))

    def then(self, t: float, **change) -> Load:
        now = self.at(t)
        return Load(**{"rate": self.rate, "queue_ms": self.queue_ms, "pending": now.pending,
                       "growth": self.growth, **change}, since=t, base=now)


def ready(name: str, metrics: TritonMetrics | None, error: str | None = None, startup: float = 60.0) -> PodSample:
    return PodSample(Pod(name, ready=True, startup_seconds=startup), metrics, error)


def starting(name: str, created_at: float) -> PodSample:
    return PodSample(Pod(name, ready=False, created_at=created_at))


def replay(loads: dict[str, Load], *, asked: int, start: float, end: float, state: State | None = None,
           settings: Settings = QUEUE, extra: tuple[PodSample, ...] = (), follow: bool = False):
    """Ticks from start to end; returns the decisions. With follow, each decision's desire becomes the ask."""
    state = state or State()
    decisions = []
    t = start
    while t <= end + 1e-9:
        serving = sorted(loads.items())[:asked] if follow else loads.items()
        pods = tuple(ready(name, load.at(t)) for name, load in serving) + extra
        decision = decide(Samples(asked, pods), state, t, settings)
        decisions.append(decision)
        state = decision.state
        if follow:
            asked = decision.desired
        t += settings.tick
    return decisions


def test_steady_load_under_target_keeps_the_count() -> None:
    loads = {"a": Load(1000, 2.0, pending=1), "b": Load(1000, 2.0, pending=1)}
    decisions = replay(loads, asked=2, start=0, end=60, settings=QUEUE.__class__(**{**QUEUE.__dict__,
                                                                                    "min_replicas": 2}))
    assert {d.desired for d in decisions} == {2}
    assert decisions[-1].reason == "Steady" and decisions[-1].value == pytest.approx(2.0)


def test_a_burst_scales_up_on_the_first_tick_in_panic_with_the_reason_in_words() -> None:
    load = Load(1000, 2.0, pending=1)
    calm = replay({"a": load}, asked=1, start=0, end=30)
    state = calm[-1].state
    burst = load.then(30, rate=3500, queue_ms=400, pending=2000, growth=7000)
    decision = replay({"a": burst}, asked=1, start=32, end=32, state=state)[0]
    assert decision.desired > 1 and decision.mode == "Panic"
    assert decision.message.startswith(f"scaled 1 → {decision.desired}: queue time ")
    assert "> target 50ms (panic)" in decision.message


def test_pods_starting_count_as_capacity_coming_so_a_slow_start_piles_up_nothing() -> None:
    settings = Settings(metric="queueTime", target=50.0, min_replicas=1, max_replicas=50)
    load = Load(1000, 2.0, pending=1)
    state = replay({"a": load}, asked=1, start=0, end=30, settings=settings)[-1].state
    # 4,500/s arrive at a pod that completes 3,500/s: its queue grows by 1,000 a second.
    burst = load.then(30, rate=3500, queue_ms=400, pending=100, growth=1000)
    first = replay({"a": burst}, asked=1, start=38, end=38, state=state, settings=settings)[0]
    asked = first.desired
    assert asked > 1
    # The backlog keeps growing while the new pods pull their images and load the model (60 s).
    coming = tuple(starting(f"new-{i}", created_at=38.0) for i in range(asked - 1))
    later = replay({"a": burst}, asked=asked, start=40, end=96, state=first.state, extra=coming,
                   settings=settings)
    assert [d.desired for d in later if d.desired > asked] == []
    assert later[-1].starting == asked - 1
    assert "starting count as capacity coming" in later[-1].message


def test_no_scale_down_while_panicking_and_only_after_the_delay() -> None:
    load = Load(1000, 2.0, pending=1)
    state = replay({"a": load}, asked=1, start=0, end=30)[-1].state
    up = replay({"a": load.then(30, rate=3500, queue_ms=400, pending=2000, growth=7000)}, asked=1, start=32, end=32,
                state=state)[0]
    high = up.desired
    pods = {f"p{i}": Load(300, 1.0, pending=0, since=34) for i in range(high)}
    calm = replay(pods, asked=high, start=34, end=400, state=up.state, follow=True)
    first_down = next(d for d in calm if d.desired < high)
    t_first_down = 34 + 2 * calm.index(first_down)
    # Panic holds for a stable window after the burst, then the scale-down delay: 60 s + 60 s.
    assert t_first_down >= 32 + 60 + 60 - 2
    # One decision divides the ready pods by at most 2.
    assert first_down.desired >= high // 2
    assert calm[-1].desired < high


def test_a_pod_that_cannot_be_scraped_is_reported_and_keeps_its_place() -> None:
    # One pod answers at 2× the target; the other cannot be read. Counting it as idle would halve the
    # average and keep the count; it is left out and assumed at target instead.
    loads = {"a": Load(1000, 100.0, pending=5)}
    broken = ready("b", None, error="http://10.0.0.2:8002/metrics: URLError: timed out")
    decisions = replay(loads, asked=2, start=0, end=8, extra=(broken,))
    last = decisions[-1]
    assert last.left_out == (("b", "http://10.0.0.2:8002/metrics: URLError: timed out"),)
    assert last.desired == 3  # ceil(1 pod × 100/50) for the measured one, plus the unread one


def test_no_readable_pod_means_no_decision_not_zero_load() -> None:
    broken = ready("a", None, error="refused")
    decision = replay({}, asked=3, start=0, end=0, extra=(broken,))[0]
    assert (decision.desired, decision.reason) == (3, "NoMetrics")
    assert "1 of 1 ready pods could not be scraped" in decision.message


def test_a_count_outside_the_bounds_is_brought_inside_even_without_figures() -> None:
    settings = Settings(metric="queueTime", target=50.0, min_replicas=3, max_replicas=5)
    below = replay({}, asked=1, start=0, end=0, settings=settings, extra=(ready("a", None, error="refused"),))[0]
    assert (below.desired, below.reason) == (3, "ScaleUp") and "minReplicas 3" in below.message
    above = replay({}, asked=8, start=0, end=0, settings=settings)[0]
    assert (above.desired, above.reason) == (5, "ScaleDown") and "maxReplicas 5" in above.message


def test_unschedulable_pods_past_the_grace_freeze_scale_up_with_a_verdict() -> None:
    overloaded = {"a": Load(3500, 500.0, pending=5000, growth=3500)}
    young = PodSample(Pod("gpu-1", ready=False, unschedulable_since=0.0))
    early = replay(overloaded, asked=2, start=0, end=10, extra=(young,))
    assert early[-1].verdict is None and early[-1].desired > 2
    late = replay(overloaded, asked=2, start=120, end=130, extra=(young,))
    assert {d.desired for d in late} == {2}
    verdict = late[-1].verdict
    assert (verdict.type, verdict.reason) == ("ScalingLimited", "InsufficientGPU")
    assert "Unschedulable for 2m" in verdict.message and "frozen at 2 replicas" in verdict.message


@pytest.mark.parametrize("metric,target,pending,expected", [
    ("pendingRequests", 8.0, 20.0, 5),  # 2 pods × 20 pending = 40 → 40 / 8 per replica
    ("pendingRequests", 8.0, 8.0, 2),
    ("inflight", 4.0, 10.0, 6),  # (10 waiting + 2 ms × 1000/s executing) = 12 per pod → 24 / 4
])
def test_count_metrics_follow_the_kpa_rule(metric: str, target: float, pending: float, expected: int) -> None:
    settings = Settings(metric=metric, target=target, min_replicas=1, max_replicas=10)
    loads = {"a": Load(1000, 0.5, pending=pending), "b": Load(1000, 0.5, pending=pending)}
    assert replay(loads, asked=2, start=0, end=4, settings=settings)[-1].desired == expected


def test_panic_is_judged_on_the_unclamped_desire_when_the_scale_up_rate_is_below_the_threshold() -> None:
    # 2 ready pods × 40 pending / 8 per replica want 10 (5× the ready pods, past panicThreshold 2);
    # maxScaleUpRate 1.5 lets this decision go to ceil(1.5 × 2) = 3 only, but it is a panic all the same.
    settings = Settings(metric="pendingRequests", target=8.0, min_replicas=1, max_replicas=20,
                        max_scale_up_rate=1.5, panic_threshold=2.0, scale_down_delay=0.0)
    burst = {"a": Load(1000, 0.5, pending=40.0), "b": Load(1000, 0.5, pending=40.0)}
    first = replay(burst, asked=2, start=0, end=2, settings=settings)[-1]
    assert (first.desired, first.mode, first.reason) == (3, "Panic", "ScaleUp")
    # The burst ends at once: while panicking the count never goes down (without the panic it would halve).
    calm = {"a": Load(1000, 0.5, pending=0.0, since=4), "b": Load(1000, 0.5, pending=0.0, since=4)}
    later = replay(calm, asked=3, start=4, end=8, settings=settings, state=first.state)
    assert [(d.desired, d.mode) for d in later] == [(3, "Panic")] * len(later)


def test_never_above_max_replicas() -> None:
    settings = Settings(metric="pendingRequests", target=8.0, min_replicas=1, max_replicas=10)
    loads = {"a": Load(1000, 5.0, pending=400), "b": Load(1000, 5.0, pending=400)}
    assert replay(loads, asked=2, start=0, end=10, settings=settings, follow=True)[-1].desired == 10


def test_idle_pods_go_down_to_min_replicas_halving_at_most_per_decision() -> None:
    loads = {f"p{i}": Load(5, 0.2) for i in range(8)}
    decisions = replay(loads, asked=8, start=0, end=400, follow=True)
    counts = [d.desired for d in decisions]
    assert counts[-1] == 1
    assert all(b >= a // 2 for a, b in zip(counts, counts[1:]))


def test_a_restarted_autoscaler_holds_the_asked_count_for_a_stable_window() -> None:
    idle = {f"p{i}": Load(10, 0.1, pending=0) for i in range(4)}
    restored = State.restored(asked=4, now=1000.0, last_scale_time=900.0)
    decisions = replay(idle, asked=4, start=1000, end=1058, state=restored)
    assert {d.desired for d in decisions} == {4}
    assert decisions[0].state.last_scale_time == 900.0
    assert {d.mode for d in decisions} == {"Stable"}, "a restart is no panic: status.autoscaling.mode holds"
    later = replay(idle, asked=4, start=1000, end=1200, state=restored)
    assert later[-1].desired < 4, "once a stable window of fresh data says so, it scales down"


def test_learnt_capacity_keeps_scale_down_above_saturation() -> None:
    # Queue time is near zero until a pod saturates; having seen a pod complete 3,500/s flat out, the
    # autoscaler keeps enough replicas for 6,000/s at 80% of that (3 pods), not the 1 queue time alone asks.
    state = State(capacity=3500.0)
    loads = {f"p{i}": Load(1500, 1.0, pending=1) for i in range(4)}
    decisions = replay(loads, asked=4, start=0, end=400, state=state)
    assert min(d.desired for d in decisions) == decisions[-1].desired == 3
    assert State().capacity is None and replay(loads, asked=4, start=0, end=400)[-1].desired == 2


def test_a_first_burst_after_idle_is_sized_by_demand_not_by_the_queue_time_ratio() -> None:
    # An idle queue (pending 0) before the burst: the panic window's oldest scrapes show no saturation yet.
    settings = Settings(metric="queueTime", target=50.0, min_replicas=1, max_replicas=100)
    idle = Load(500, 0.5, pending=0)
    state = replay({"a": idle}, asked=1, start=0, end=30, settings=settings)[-1].state
    # 7,000/s arrive at a pod that completes 3,500/s; its queue time is already 40× the target.
    burst = idle.then(30, rate=3500, queue_ms=2000, pending=500, growth=3500)
    decisions = replay({"a": burst}, asked=1, start=32, end=38, state=state, settings=settings)
    assert decisions[0].desired >= 2 and decisions[0].state.capacity is None
    assert decisions[1].state.capacity == pytest.approx(3500)
    assert 3 <= decisions[-1].desired < 40, [d.desired for d in decisions]  # the ratio alone asks for 40


def test_a_pod_that_just_became_ready_is_the_capacity_asked_for_not_a_reason_for_another() -> None:
    # The loopback harness's case: one pod completes 20/s flat out with 200 ms of queue (target 50 ms); 2 are
    # asked. When the second becomes ready the windows still hold the first pod's queue from before: that
    # is no evidence that 2 are too few, and asking for a third is the pile-up counting starting pods avoids.
    settings = Settings(metric="queueTime", target=50.0, min_replicas=1, max_replicas=10)
    calm = Load(12, 1.0)
    state = replay({"a": calm}, asked=1, start=0, end=30, settings=settings)[-1].state
    busy = calm.then(30, rate=20, queue_ms=200, pending=4)
    up = replay({"a": busy}, asked=1, start=32, end=32, state=state, settings=settings)[0]
    assert up.desired == 2
    starting_b = (starting("b", created_at=32.0),)
    waiting = replay({"a": busy}, asked=2, start=34, end=38, state=up.state, extra=starting_b, settings=settings)
    assert {d.desired for d in waiting} == {2}
    # b is ready from 40: the load spreads, both queues go down, the windows catch up tick by tick.
    spread = {"a": busy.then(40, rate=14, queue_ms=20, pending=0), "b": Load(14, 20.0, since=40)}
    after = replay(spread, asked=2, start=40, end=70, state=waiting[-1].state, settings=settings)
    assert after[0].value > settings.target, "the first decisions still see the queue from before"
    assert [d.desired for d in after] == [2] * len(after)


def test_over_target_with_every_pod_measured_for_a_whole_window_still_asks_for_one_more() -> None:
    # Two pods over target all along (in bursts: their queues empty), though their arrivals (30/s) fit two at
    # 80% of the 20/s one pod can do: one more pod.
    loads = {"a": Load(15, 80.0), "b": Load(15, 80.0)}
    decisions = replay(loads, asked=2, start=0, end=8, state=State(capacity=20.0))
    assert [d.desired for d in decisions[1:]] == [3] * (len(decisions) - 1)


def test_pending_requests_under_clients_that_never_pause_hold_their_count() -> None:
    # 7 clients without think time on 3 pods that execute one request each: 4 wait, 1.3 a pod, under the
    # target of 2. On 2 pods 5 would wait, 2.5 a pod, over it: scaling down would ask for the pod back.
    settings = Settings(metric="pendingRequests", target=2.0, min_replicas=1, max_replicas=3, scale_down_delay=4)
    loads = {name: Load(500, 40.0, pending=4 / 3) for name in "abc"}  # 500/s × 2 ms: 1 executing a pod
    decisions = replay(loads, asked=3, start=0, end=120, settings=settings)
    assert {d.desired for d in decisions} == {3}
    idle = {name: Load(50, 0.1, pending=0) for name in "abc"}  # a real drop still scales down
    assert replay(idle, asked=3, start=0, end=120, settings=settings)[-1].desired == 1


def test_a_scale_up_under_target_says_the_arrivals_outgrew_the_capacity() -> None:
    state = State(capacity=3500.0)
    loads = {"a": Load(3000, 3.0, pending=1), "b": Load(3000, 3.0, pending=1)}
    decision = replay(loads, asked=2, start=0, end=4, state=state)[-1]
    assert decision.desired == 3
    assert decision.message == ("scaled 2 → 3: queue time 3.0ms < target 50ms; 6000 req/s arriving need 3 "
                                "replicas at 80% of the 3500 req/s one completes")
