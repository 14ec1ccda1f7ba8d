"""The builtin autoscaler's decision: a pure function of the scrapes, the state, the clock and the settings.

After Knative's KPA (pkg/autoscaler/scaling/autoscaler.go): a stable and a
panic window, panic when the panic window asks for `panicThreshold` × the
ready pods, no scale-down while panicking, the highest desire over the
scale-down delay wins, and rates bound one decision. What differs, and why:

- Queue-based signals grow with the backlog, not with the load: once pods
  are over target the proportional desire (pods × value / target) keeps
  climbing while new pods start, and piles up replicas (knative#13284,
  kserve#871). Over target, the desire is therefore capped by the measured
  demand: arrivals (completions plus the queue's growth) plus the backlog
  drained within the stable window, over what one saturated pod completes.
- What one pod completes while over target (its capacity) is kept, and
  published in status, so a scale-down never goes below the count that
  runs at TARGET_UTILIZATION of it: queue time is near zero until a pod
  saturates, so it alone cannot say how far down is safe.
- Pods asked for but not ready count as capacity coming: the desire is a
  total, compared with what is already asked, never added to it.
- Pods Unschedulable past a grace period freeze scale-up at what is asked.
- A pod whose metrics could not be read is left out of the figures and
  keeps its place (neither idle nor overloaded).

State that matters across restarts (the asked count, the last scale time,
the capacity) is rebuilt from the API by `State.restored`; a restarted
autoscaler holds the asked count as a floor until it has a full stable window
of fresh data, so it never scales down on a partial window. It may still scale
up; the hold is not a panic, and the mode it reports stays what it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..api import Autoscaling
from ..clients.triton_metrics import TritonMetrics
from .signals import Snapshot, Window, trim, window

# A replica is sized to this share of the throughput it reached at the target, leaving room for noise
# (Knative's default target utilization is 70%).
TARGET_UTILIZATION = 0.8
EPSILON = 1e-9


@dataclass(frozen=True)
class Settings:
    metric: str  # queueTime | pendingRequests | inflight
    target: float  # milliseconds for queueTime, a count per replica otherwise
    min_replicas: int = 1
    max_replicas: int = 10
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0
    scale_down_delay: float = 60.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    tick: float = 2.0
    unschedulable_grace: float = 120.0

    @classmethod
    def of(cls, scaling: Autoscaling) -> Settings:
        b = scaling.builtin_settings
        return cls(
            metric=scaling.metric, target=scaling.target_value,
            min_replicas=scaling.min_replicas, max_replicas=scaling.max_replicas,
            stable_window=b.seconds("stable_window"), panic_window=b.seconds("panic_window"),
            panic_threshold=b.panic_threshold, scale_down_delay=b.seconds("scale_down_delay"),
            max_scale_up_rate=b.max_scale_up_rate, max_scale_down_rate=b.max_scale_down_rate,
            tick=b.seconds("tick"), unschedulable_grace=b.seconds("unschedulable_grace"),
        )


@dataclass(frozen=True)
class Pod:
    name: str
    ready: bool
    # Clock time since which the pod is Pending as Unschedulable; None when it is scheduled.
    unschedulable_since: float | None = None
    # For a ready pod: seconds from its creation to Ready (image pull, model load), from the API.
    startup_seconds: float | None = None
    created_at: float | None = None  # clock time of the pod's creation


@dataclass(frozen=True)
class PodSample:
    pod: Pod
    metrics: TritonMetrics | None = None  # None: not scraped (not ready) or the scrape failed
    error: str | None = None


@dataclass(frozen=True)
class Samples:
    asked: int  # spec.replicas now: every pod asked for, ready or not
    pods: tuple[PodSample, ...]


@dataclass(frozen=True)
class State:
    history: tuple[Snapshot, ...] = ()
    panic_since: float | None = None  # the last time the panic condition held
    panic_max: int = 0  # the most replicas asked while panicking
    recommendations: tuple[tuple[float, int], ...] = ()  # (time, desire) over the scale-down delay
    last_scale_time: float | None = None
    capacity: float | None = None  # requests/s one replica completed while over target
    restored_at: float | None = None  # rebuilt after a restart: no scale-down below restored_count until
    restored_count: int = 0  # a stable window of fresh data has been seen

    @classmethod
    def restored(cls, asked: int, now: float, last_scale_time: float | None = None,
                 capacity: float | None = None) -> State:
        """The state after a restart, from what the API holds (spec.replicas, status.autoscaling)."""
        return cls(restored_at=now, restored_count=asked, last_scale_time=last_scale_time, capacity=capacity)


@dataclass(frozen=True)
class Verdict:
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    desired: int
    asked: int
    value: float | None  # the metric over the stable window, in its unit
    panic_value: float | None
    mode: str  # Stable | Panic
    reason: str  # ScaleUp | ScaleDown | Steady | NoMetrics
    message: str
    state: State
    left_out: tuple[tuple[str, str], ...] = ()  # (pod, why its metrics are missing)
    starting: int = 0
    verdict: Verdict | None = None

    @property
    def scale(self) -> bool:
        return self.desired != self.asked


@dataclass(frozen=True)
class _Want:
    replicas: int
    value: float
    why: str | None = None  # what sized it, when not the metric against its target


def metric_value(w: Window, metric: str) -> tuple[float | None, int]:
    """The metric over a window and how many pods it speaks for."""
    if metric == "queueTime":
        if w.queue_ms is None:
            # Nothing completed: idle when nothing waits either; unknown when requests wait (stalled).
            return (0.0 if w.pending == 0 else None), w.rated
        return w.queue_ms, w.rated
    if metric == "pendingRequests":
        return (w.pending_avg / w.gauged if w.gauged else None), w.gauged
    if metric == "inflight":
        return (sum(p.inflight for p in w.pods) / w.rated if w.rated else None), w.rated
    raise ValueError(f"metric {metric} is not scaled by the builtin autoscaler")


def _pod_value(pod, metric: str) -> float | None:
    return {"queueTime": pod.queue_ms, "pendingRequests": pod.pending_avg, "inflight": pod.inflight}[metric]


def saturated_capacity(w: Window | None, s: Settings, strict: bool = True) -> float | None:
    """Requests/s per replica, from the pods over target whose queue never emptied in the window: they run
    flat out, so what they complete is what a replica can do. A pod draining its last backlog is not one."""
    if w is None:
        return None
    over = [p.completed_per_second for p in w.pods
            if (v := _pod_value(p, s.metric)) is not None and v > s.target
            and (p.pending_min >= 1 or not strict) and p.completed_per_second > 0]
    return sum(over) / len(over) if over else None


def _want(w: Window | None, ready: int, s: Settings, capacity: float | None, until_ready: float) -> _Want | None:
    if w is None:
        return None
    value, counted = metric_value(w, s.metric)
    if value is None or counted == 0:
        return None
    # Ready pods that could not be read keep their place (their load is unknown). A pod read now but not
    # rated yet has just become ready: it is capacity the measured load spreads over, not a pod to add.
    others = max(0, ready - max(counted, w.gauged))
    proportional = math.ceil(counted * value / s.target - EPSILON) + others
    if s.metric == "pendingRequests" and proportional - others < counted:
        proportional = _pending_floor(w, counted, value, s) + others
    if capacity is None or s.metric != "queueTime":
        # Nothing learnt yet, or a concurrency target the user chose per replica: the KPA's own rule.
        return _Want(proportional, value)
    steady = math.ceil(w.arrivals_per_second / (capacity * TARGET_UTILIZATION) - EPSILON) + others
    if value <= s.target:
        if steady <= proportional:
            return _Want(proportional, value)
        # Under target yet short of capacity: the queue is still short, but the arrivals outgrow the pods.
        return _Want(steady, value, f"{w.arrivals_per_second:.4g} req/s arriving need {steady} replicas at "
                                    f"{TARGET_UTILIZATION:.0%} of the {capacity:.4g} req/s one completes")
    # Over target. A Service spreads new requests evenly and never moves a queue, so the pods serving now
    # keep their backlog: by the time new pods are Ready it has grown for another startup time. Ask for
    # enough replicas that each serving pod, given its share of new requests, drains that backlog within
    # the stable window. When no count can do that, more pods barely help (a pod drains at most at its
    # capacity): ask for enough that new requests take no more than the headroom share of it.
    growth = max(0.0, w.arrivals_per_second - w.completed_per_second)
    backlog_per_pod = (w.pending + growth * until_ready) / max(1, counted)
    room = max(capacity - backlog_per_pod / s.stable_window, capacity * (1 - TARGET_UTILIZATION))
    drain = math.ceil(w.arrivals_per_second / room - EPSILON) + others
    # At least one more pod than the window saw serving throughout: a pod that became ready within it has not
    # shown its effect yet, and another one on top of it is the pile-up that counting starting pods avoids.
    return _Want(max(ready, ready - w.joined + 1, min(proportional, max(steady, drain))), value)


def _pending_floor(w: Window, counted: int, value: float, s: Settings) -> int:
    """The fewest pods that hold at most the target waiting each. Fewer pods also execute fewer requests:
    what the removed pods were executing then waits in the others' queues, so the waiting count alone would
    scale down to a count that at once asks for the pods back (clients that never pause, knative's
    concurrency rule counts executing requests for this reason)."""
    waiting = value * counted
    executing_each = w.executing / w.rated if w.rated else 0.0
    fewest = max(1, math.ceil(waiting / s.target - EPSILON))
    while fewest < counted and (waiting + (counted - fewest) * executing_each) / fewest > s.target + EPSILON:
        fewest += 1
    return fewest


def decide(samples: Samples, state: State, now: float, s: Settings) -> Decision:
    pods = samples.pods
    ready = [p for p in pods if p.pod.ready]
    measured = [p for p in ready if p.metrics is not None]
    left_out = tuple((p.pod.name, p.error or "no metrics") for p in ready if p.metrics is None)
    unschedulable = [p.pod for p in pods if not p.pod.ready and p.pod.unschedulable_since is not None]
    stuck = [p for p in unschedulable if now - p.unschedulable_since >= s.unschedulable_grace]
    starting = len(pods) - len(ready) - len(unschedulable)

    snapshot = Snapshot(now, tuple((p.pod.name, p.metrics) for p in measured))
    history = trim(state.history + (snapshot,), now, s.stable_window)
    stable, panic = window(history, now, s.stable_window), window(history, now, s.panic_window)
    learnt, capacity = state.capacity, state.capacity
    if s.metric == "queueTime":
        last_tick = window(history, now, s.tick)
        learnt = saturated_capacity(panic, s) or saturated_capacity(last_tick, s) or learnt
        # On a first burst the scrape before it still shows an empty queue: what the over-target pods
        # completed in the last tick sizes this decision, and is learnt once a queue stays non-empty.
        capacity = learnt or saturated_capacity(last_tick, s, strict=False)
    n_ready = len(ready)
    until_ready = _until_ready(pods, now)
    want_stable = _want(stable, n_ready, s, capacity, until_ready)
    want_panic = _want(panic, n_ready, s, capacity, until_ready)
    base = replace(state, history=history, capacity=learnt)

    if want_stable is None and want_panic is None:
        why = f"{len(left_out)} of {n_ready} ready pods could not be scraped" if left_out else \
            "no ready pod with two scrapes yet" if n_ready else "no ready pod"
        # The bounds hold without figures too (as the HPA's do): a count outside them is brought inside.
        bounded = min(max(samples.asked, s.min_replicas), s.max_replicas)
        if bounded != samples.asked:
            side = f"minReplicas {s.min_replicas}" if bounded > samples.asked else f"maxReplicas {s.max_replicas}"
            return Decision(bounded, samples.asked, None, None, _mode(state),
                            "ScaleUp" if bounded > samples.asked else "ScaleDown",
                            f"scaled {samples.asked} → {bounded}: {side} ({why})",
                            replace(base, last_scale_time=now), left_out, starting)
        return Decision(samples.asked, samples.asked, None, None, _mode(state), "NoMetrics", why, base,
                        left_out, starting, _limited(stuck, samples.asked, now))
    want_stable = want_stable or want_panic
    want_panic = want_panic or want_stable

    # Rates are relative to the ready pods, as in the KPA; at least one pod, to grow from zero ready.
    basis = max(1, n_ready)
    max_up = math.ceil(s.max_scale_up_rate * basis)
    max_down = math.floor(basis / s.max_scale_down_rate)
    stable_count = min(max(want_stable.replicas, max_down), max_up)
    panic_count = min(max(want_panic.replicas, max_down), max_up)

    panic_since, panic_max = state.panic_since, state.panic_max
    # Knative tests the unclamped desire (autoscaler.go: dppc / readyPodsCount >= PanicThreshold): with
    # maxScaleUpRate below panicThreshold the clamped count could never reach it.
    if want_panic.replicas / basis >= s.panic_threshold:
        panic_since = now
    elif panic_since is not None and now - panic_since >= s.stable_window:
        panic_since, panic_max = None, 0  # the burst has made its way into the stable window
    desired = stable_count
    if panic_since is not None:
        desired = max(desired, panic_count, panic_max)  # never down while panicking
        panic_max = desired

    restored_at = state.restored_at
    if restored_at is not None and now - restored_at < s.stable_window:
        desired = max(desired, state.restored_count)
    else:
        restored_at = None

    # The scale-down delay: the highest desire over the delay window.
    recommendations = tuple((t, r) for t, r in state.recommendations if t > now - s.scale_down_delay) + \
        ((now, desired),)
    desired = max(r for _, r in recommendations)
    desired = min(max(desired, s.min_replicas), s.max_replicas)

    verdict = _limited(stuck, samples.asked, now)
    if stuck and desired > samples.asked:
        desired = samples.asked  # more pods would not schedule either
    mode = "Panic" if panic_since is not None else "Stable"
    new_state = replace(base, panic_since=panic_since, panic_max=panic_max, recommendations=recommendations,
                        restored_at=restored_at,
                        last_scale_time=now if desired != samples.asked else state.last_scale_time)
    shown = want_panic if mode == "Panic" else want_stable
    reason = "ScaleUp" if desired > samples.asked else "ScaleDown" if desired < samples.asked else "Steady"
    return Decision(desired, samples.asked, want_stable.value, want_panic.value, mode, reason,
                    _message(samples.asked, desired, shown, s, mode, starting, unread=(len(left_out), n_ready)),
                    new_state, left_out,
                    starting, verdict)


def _until_ready(pods: tuple[PodSample, ...], now: float) -> float:
    """How long until more capacity can serve: the pods' usual startup (median of the ready ones), less
    the age of the youngest pod already starting. Counting the whole startup again on every tick would
    grow the estimate of the backlog by the time already waited, and pile up replicas."""
    startups = sorted(p.pod.startup_seconds for p in pods if p.pod.ready and p.pod.startup_seconds is not None)
    if not startups:
        return 0.0
    startup = startups[len(startups) // 2]
    ages = [now - p.pod.created_at for p in pods
            if not p.pod.ready and p.pod.unschedulable_since is None and p.pod.created_at is not None]
    return max(0.0, startup - min(ages)) if ages else startup


def _mode(state: State) -> str:
    return "Panic" if state.panic_since is not None else "Stable"


def _limited(stuck: list[Pod], asked: int, now: float) -> Verdict | None:
    if not stuck:
        return None
    longest = max(now - p.unschedulable_since for p in stuck)
    return Verdict("ScalingLimited", "InsufficientGPU",
                   f"{len(stuck)} pod(s) Unschedulable for {format_seconds(longest)}: "
                   f"scale-up frozen at {asked} replicas until they schedule")


def format_value(value: float, metric: str) -> str:
    if metric == "queueTime":
        return f"{value:.0f}ms" if value >= 10 else f"{value:.1f}ms"
    return f"{value:.1f}"


def format_seconds(seconds: float) -> str:
    return f"{seconds / 60:.0f}m" if seconds >= 120 else f"{seconds:.0f}s"


METRIC_WORDS = {"queueTime": "queue time", "pendingRequests": "pending requests per replica",
                "inflight": "in-flight requests per replica"}


def _message(asked: int, desired: int, want: _Want, s: Settings, mode: str, starting: int,
             unread: tuple[int, int]) -> str:
    value = want.value
    sign = ">" if value > s.target else "<" if value < s.target else "="
    text = f"{METRIC_WORDS[s.metric]} {format_value(value, s.metric)} {sign} target {format_value(s.target, s.metric)}"
    if mode == "Panic":
        text += " (panic)"
    if want.why and desired == want.replicas:
        text += f"; {want.why}"
    if starting and desired == asked:
        text += f"; {starting} pod(s) starting count as capacity coming"
    if unread[0]:
        text += f"; {unread[0]} of {unread[1]} ready pods could not be scraped and are left out"
    return f"scaled {asked} → {desired}: {text}" if desired != asked else f"{desired} replicas: {text}"


__all__ = ["Decision", "Pod", "PodSample", "Samples", "Settings", "State", "TARGET_UTILIZATION", "Verdict",
           "decide", "format_value", "metric_value"]
