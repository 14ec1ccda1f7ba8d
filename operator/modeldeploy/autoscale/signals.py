"""Window signals from a short history of scrapes: what every pod did over the last N seconds.

Triton's counters are cumulative, so a window's figures are the increase
between a pod's oldest scrape inside the window and its newest. A pod seen
only once in the window has no rates yet (its gauge still counts).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clients.triton_metrics import TritonMetrics, increase


@dataclass(frozen=True)
class Snapshot:
    """One tick's scrapes: pod name → its metrics (only pods that could be read)."""

    at: float
    pods: tuple[tuple[str, TritonMetrics], ...]

    def get(self, pod: str) -> TritonMetrics | None:
        return next((m for name, m in self.pods if name == pod), None)


@dataclass(frozen=True)
class PodFigures:
    """One pod over the window."""

    name: str
    completed_per_second: float
    queue_ms: float | None
    pending_avg: float
    pending_min: float  # > 0: the queue never emptied at a scrape in the window (the pod is saturated)
    inflight: float  # waiting + executing, on average


@dataclass(frozen=True)
class Window:
    """The pods' combined figures over one window."""

    seconds: float
    rated: int  # pods with two scrapes or more in the window: their rates are known
    gauged: int  # pods scraped now (their pending gauge is known)
    completed_per_second: float  # successful requests
    arrivals_per_second: float  # completed plus the change of the waiting queue
    queue_ms: float | None  # average queue time per completed request
    pending: float  # waiting requests now, all pods
    pending_avg: float  # waiting requests averaged over the window's scrapes, all pods
    executing: float  # requests in execution on average (Little's law on compute time), all rated pods
    pods: tuple[PodFigures, ...] = ()
    # Pods scraped now whose figures start after the window does (a pod that became ready within it): the
    # window's figures show the load before they took their share of it.
    joined: int = 0


def trim(history: tuple[Snapshot, ...], now: float, keep_seconds: float) -> tuple[Snapshot, ...]:
    """The snapshots a window of keep_seconds ending now still needs, oldest first."""
    return tuple(s for s in history if s.at >= now - keep_seconds - 1e-9)


def window(history: tuple[Snapshot, ...], now: float, seconds: float) -> Window | None:
    """Figures over [now - seconds, now]; None when fewer than two scrapes fall in it."""
    inside = [s for s in history if s.at >= now - seconds - 1e-9]
    if len(inside) < 2:
        return None
    latest = inside[-1]
    completed_rate = arrival_rate = executing = 0.0
    completed = queue_us = 0.0
    rated = joined = 0
    figures = []
    for name, after in latest.pods:
        first = next(((s.at, m) for s in inside[:-1] if (m := s.get(name)) is not None), None)
        if first is None or first[0] > inside[0].at + 1e-9:
            joined += 1
        if first is None or latest.at <= first[0]:
            continue
        # Each pod's rates over its own span: a pod that came later in the window counts from then.
        span = latest.at - first[0]
        inc = increase(first[1], after)
        rated += 1
        completed += inc.success
        queue_us += inc.queue_us
        completed_rate += inc.success / span
        arrival_rate += (inc.requests + after.pending - first[1].pending) / span
        executing += inc.compute_us / 1e6 / span
        pod_pending = [m.pending for s in inside if (m := s.get(name)) is not None]
        pending_avg = sum(pod_pending) / len(pod_pending)
        figures.append(PodFigures(name, inc.success / span,
                                  None if inc.success == 0 else inc.queue_us / inc.success / 1000.0,
                                  pending_avg, min(pod_pending), pending_avg + inc.compute_us / 1e6 / span))
    samples = [sum(m.pending for _, m in s.pods) for s in inside]
    return Window(
        seconds=latest.at - inside[0].at,
        rated=rated,
        gauged=len(latest.pods),
        completed_per_second=completed_rate,
        arrivals_per_second=max(0.0, arrival_rate),
        queue_ms=None if completed == 0 else queue_us / completed / 1000.0,
        pending=sum(m.pending for _, m in latest.pods),
        pending_avg=sum(samples) / len(samples),
        executing=executing,
        pods=tuple(figures),
        joined=joined,
    )
