"""The analysis loop: every interval, a rolling-out revision's metrics beside the stable's, judged.

It scrapes Triton's /metrics on every ready pod of the two revisions (the
same scraper as the autoscaler), turns the counters' increase since the last
interval into a `Window` per revision, and keeps the verdicts for the
reconciler, which counts them into the rollout's status. Verdicts live in
memory only: after a restart the first interval only sets the baseline,
while the failure count already judged stays in status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..api import ModelDeployment
from ..api.base import duration_seconds
from ..builders import naming as n
from ..clients.triton_metrics import ScrapeError, TritonMetrics, increase
from .analysis import IntervalVerdict, Window, judge

log = logging.getLogger("modeldeploy.rollout.analysis")

Key = tuple[str, str]
Scrape = Callable[[str, str], TritonMetrics]  # (pod IP, model name) -> counters; raises ScrapeError
KEPT_VERDICTS = 32
_OUTCOME_WORDS = {"pass": "Passing", "fail": "Failing", "inconclusive": "Inconclusive"}


@dataclass
class _Following:
    md: ModelDeployment
    canary: str
    stable: str | None
    pods: dict[str, list[tuple[str, str]]]  # revision -> (pod name, pod IP) of ready pods
    next_at: float
    baseline: dict[str, TritonMetrics] = field(default_factory=dict)  # pod name -> counters at the last interval
    verdicts: deque = field(default_factory=lambda: deque(maxlen=KEPT_VERDICTS))


class Analyst:
    def __init__(self, scrape: Scrape, *, on_verdict: Callable[[Key], None] = lambda key: None,
                 clock: Callable[[], float] = time.time):
        self._scrape = scrape
        self._on_verdict = on_verdict
        self._clock = clock
        self._lock = threading.Lock()
        self._following: dict[Key, _Following] = {}

    # -- what the reconciler calls -------------------------------------------------------------------

    def follow(self, key: Key, md: ModelDeployment, canary: str | None, stable: str | None,
               pods: Sequence[dict]) -> None:
        """Judge `canary` against `stable` from now on (None: nothing rolls out, stop)."""
        with self._lock:
            if canary is None:
                self._following.pop(key, None)
                return
            ready = _ready_pods(pods)
            current = self._following.get(key)
            if current is None or current.canary != canary:
                interval = duration_seconds(md.spec.rollout.analysis.interval)
                self._following[key] = _Following(md, canary, stable, ready, self._clock() + interval)
            else:
                current.md, current.stable, current.pods = md, stable, ready

    def verdicts(self, key: Key, revision: str) -> tuple[IntervalVerdict, ...]:
        with self._lock:
            following = self._following.get(key)
            return tuple(following.verdicts) if following and following.canary == revision else ()

    def figures(self, key: Key, revision: str) -> dict | None:
        """status.revisions[] fields of the revision's last judged interval."""
        last = self.verdicts(key, revision)
        if not last:
            return {"analysis": "Pending"}
        return {"analysis": _OUTCOME_WORDS[last[-1].outcome], "figures": last[-1].figures.to_wire()}

    # -- the loop ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event, resolution: float = 1.0) -> None:
        while not stop.wait(resolution):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive a bug in one interval
                log.exception("analysis tick failed")

    def tick(self) -> list[Key]:
        now = self._clock()
        with self._lock:
            due = [(key, f) for key, f in self._following.items() if now >= f.next_at]
        judged = []
        for key, following in due:
            verdict = self._interval(following, now)
            with self._lock:
                following.next_at = now + duration_seconds(following.md.spec.rollout.analysis.interval)
                if verdict is not None:
                    following.verdicts.append(verdict)
            if verdict is not None:
                log.info("analysis of %s/%s revision %s: %s (%s)", *key, following.canary, verdict.outcome,
                         verdict.reason)
                judged.append(key)
                self._on_verdict(key)
        return judged

    def _interval(self, following: _Following, now: float) -> IntervalVerdict | None:
        """The canary's and the stable's windows since the last interval; None for a first, baseline one."""
        windows: dict[str, Window] = {}
        fresh: dict[str, TritonMetrics] = {}
        had_baseline = bool(following.baseline)
        for revision in filter(None, (following.canary, following.stable)):
            totals = Window()
            for name, ip in following.pods.get(revision, []):
                try:
                    counters = self._scrape(ip, following.md.model_name)
                except ScrapeError as err:
                    log.warning("analysis: %s left out of this interval: %s", name, err.reason)
                    continue
                fresh[name] = counters
                before = following.baseline.get(name)
                if before is None:
                    continue  # a pod new since the last interval: its counters start the next window
                grown = increase(before, counters)
                totals = Window(
                    requests=totals.requests + grown.requests, failures=totals.failures + grown.failure,
                    request_us=totals.request_us + grown.request_us, queue_us=totals.queue_us + grown.queue_us,
                    p99_us=max(filter(None, (totals.p99_us, counters.request_p99_us)), default=None),
                )
            windows[revision] = totals
        following.baseline = fresh
        if not had_baseline:
            return None
        return judge(windows.get(following.canary, Window()), windows.get(following.stable or ""),
                     following.md.spec.rollout.analysis, now)


def _ready_pods(pods: Sequence[dict]) -> dict[str, list[tuple[str, str]]]:
    """Ready pods (readiness gates included: they take traffic) with an address, by revision."""
    ready: dict[str, list[tuple[str, str]]] = {}
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if meta.get("deletionTimestamp") or conditions.get("Ready") != "True" or not status.get("podIP"):
            continue
        rev = (meta.get("labels") or {}).get(n.REVISION_LABEL)
        if rev:
            ready.setdefault(rev, []).append((meta["name"], status["podIP"]))
    return ready
