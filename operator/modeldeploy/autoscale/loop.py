"""The builtin autoscaler's loop: every tick, scrape, decide, write /scale, tell.

Pure wiring around `decide()`: the targets, the scraper, the writer, the event
recorder and the clock are injected, so the loop runs the same in the
operator, the loopback harness and unit tests. It writes /scale only when a
decision changes the count, and keeps per ModelDeployment what
`status.autoscaling` shows (`status_of`), which the reconciler writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from .decide import Decision, State, decide
from .metrics import AutoscalerMetrics
from .scraper import Scraper
from .status import autoscaling_status
from .targets import Target

log = logging.getLogger("modeldeploy.autoscale")

Key = tuple[str, str]
# The figures move every tick: the status is written again when a decision field changes, and for the
# figures alone at most this often (1,000 ModelDeployments must not mean 500 status writes a second).
FIGURES_REFRESH_SECONDS = 30.0
ScaleWriter = Callable[[str, str, int], None]  # (namespace, name, replicas): PATCH .../modeldeployments/NAME/scale
EventRecorder = Callable[[Target, str, str, bool], None]  # (target, reason, message, warning)
StatusChanged = Callable[[Key], None]  # the reconciler writes status.autoscaling again for this key


@dataclass
class _Entry:
    uid: str | None
    state: State
    due: float
    metric: str
    decision: Decision | None = None
    status: dict | None = None
    told_at: float = float("-inf")


class AutoscaleLoop:
    def __init__(self, targets: Callable[[], Iterable[Target]], write_scale: ScaleWriter,
                 record_event: EventRecorder, *, scraper: Scraper | None = None,
                 clock: Callable[[], float] = time.time, metrics: AutoscalerMetrics | None = None,
                 on_status: StatusChanged | None = None):
        self._targets = targets
        self._write = write_scale
        self._record = record_event
        self._scraper = scraper or Scraper()
        self._clock = clock
        self._metrics = metrics or AutoscalerMetrics()
        self._on_status = on_status or (lambda key: None)
        self._entries: dict[Key, _Entry] = {}
        self._lock = threading.Lock()

    def status_of(self, namespace: str, name: str) -> dict | None:
        """status.autoscaling for the reconciler to write; None until the first decision."""
        with self._lock:
            entry = self._entries.get((namespace, name))
            return None if entry is None else entry.status

    def tick(self) -> dict[Key, Decision]:
        """One pass over the targets that are due; returns the decisions made."""
        started = time.perf_counter()
        now = self._clock()
        made: dict[Key, Decision] = {}
        seen = set()
        for target in self._targets():
            seen.add(target.key)
            entry = self._entry(target, now)
            if now + 1e-9 < entry.due:
                continue
            entry.due = now + target.settings.tick
            try:
                made[target.key] = self._decide(target, entry, now)
            except Exception:  # a bug on one ModelDeployment must not stall the others' decisions
                log.exception("%s/%s: autoscaler decision failed", *target.key)
                self._metrics.decisions.labels(namespace=target.namespace, modeldeployment=target.name,
                                               result="Error").inc()
        with self._lock:
            for key in set(self._entries) - seen:
                self._metrics.forget(key, self._entries.pop(key).metric)
        self._metrics.tick_seconds.observe(time.perf_counter() - started)
        return made

    def run(self, stop: threading.Event, resolution: float = 0.5) -> None:
        """Tick until stop is set; each target runs at its own tick (spec.autoscaling.builtin.tick)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a bug in one pass must not stop autoscaling for good
                log.exception("autoscaler tick failed")
            stop.wait(resolution)

    def _entry(self, target: Target, now: float) -> _Entry:
        entry = self._entries.get(target.key)
        if entry is None or entry.uid != target.uid:
            # New here (or the operator restarted): rebuild from what the API holds.
            state = State.restored(target.asked, now, target.last_scale_time, target.capacity)
            entry = _Entry(target.uid, state, now, target.settings.metric)
            with self._lock:
                self._entries[target.key] = entry
        return entry

    def _decide(self, target: Target, entry: _Entry, now: float) -> Decision:
        samples = self._scraper.samples(target)
        decision = decide(samples, entry.state, now, target.settings)
        for pod, why in decision.left_out:
            log.warning("%s/%s: pod %s left out of the decision: %s", *target.key, pod, why)
        if decision.scale:
            decision = self._apply(target, entry, decision)
        before = entry.decision.verdict.reason if entry.decision and entry.decision.verdict else None
        if decision.verdict and decision.verdict.reason != before:  # an Event on the transition only
            self._record(target, decision.verdict.reason, decision.verdict.message, True)
        entry.state, entry.decision = decision.state, decision
        if decision.reason == "NoMetrics" and not decision.left_out and entry.status is None:
            # Warming up (pods readable, not two scrapes yet): what status.autoscaling holds stands.
            self._metrics.record(target.key, target.settings.metric, target.settings.target, decision)
            return decision
        status = autoscaling_status("builtin", target.settings.metric, target.target_text, decision,
                                    last_scale_time=target.last_scale_time, capacity=target.capacity)
        with self._lock:
            before, entry.status = entry.status, status
        if _differs(before, status) or (before != status and now - entry.told_at >= FIGURES_REFRESH_SECONDS):
            entry.told_at = now
            self._on_status(target.key)
        self._metrics.record(target.key, target.settings.metric, target.settings.target, decision)
        return decision

    def _apply(self, target: Target, entry: _Entry, decision: Decision) -> Decision:
        labels = dict(namespace=target.namespace, modeldeployment=target.name)
        try:
            self._write(target.namespace, target.name, decision.desired)
        except Exception as err:  # the next tick decides again from fresh figures
            log.warning("%s/%s: writing /scale to %d failed: %s", *target.key, decision.desired, err)
            self._metrics.scale_writes.labels(**labels, outcome="error").inc()
            return replace(decision, desired=decision.asked, reason="Steady",
                           message=f"{decision.message} (not written: {type(err).__name__})",
                           state=replace(decision.state, last_scale_time=entry.state.last_scale_time))
        self._metrics.scale_writes.labels(**labels, outcome="ok").inc()
        log.info("%s/%s: %s", *target.key, decision.message)
        self._record(target, "ScaledUp" if decision.desired > decision.asked else "ScaledDown", decision.message,
                     False)
        return decision


def _differs(before: dict | None, after: dict) -> bool:
    """A change beyond the figures (value and its sentence): a scale, a mode, a verdict, a capacity."""
    figures = ("currentValue", "message")
    if before is None:
        return True
    return {k: v for k, v in before.items() if k not in figures} != {k: v for k, v in after.items() if k not in figures}


__all__ = ["AutoscaleLoop", "EventRecorder", "ScaleWriter", "StatusChanged"]
