"""The operator's own Prometheus metrics, on a registry of their own."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter("modeldeploy_reconciles", "Reconciles by result.", ["result"],
                                  registry=self.registry)
        self.reconcile_seconds = Histogram(
            "modeldeploy_reconcile_duration_seconds", "Time of one reconcile, API calls included.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.api_writes = Counter("modeldeploy_api_writes", "API write requests by verb and kind.",
                                  ["verb", "kind"], registry=self.registry)
        self.cache_synced = Gauge("modeldeploy_cache_synced",
                                  "1 once every watched kind has been listed (reconciles start then).",
                                  registry=self.registry)
        self.relists = Counter("modeldeploy_relists", "Lists of a watched kind made to repair missed events.",
                               ["kind"], registry=self.registry)
        self.last_watch_event = Gauge(
            "modeldeploy_watch_last_event_timestamp_seconds",
            "Unix time of the last list/watch event or successful API read.", registry=self.registry,
        )

    def count_write(self, verb: str, kind: str) -> None:
        self.api_writes.labels(verb=verb, kind=kind).inc()

    def watch_alive(self, at: float | None = None) -> None:
        self.last_watch_event.set(at if at is not None else time.time())

    def watch_age(self) -> float:
        last = self.last_watch_event._value.get()  # noqa: SLF001 - prometheus-client has no public getter
        return float("inf") if last == 0 else time.time() - last

    def track_ready(self, bodies: Callable[[], Iterable[dict]]) -> None:
        self.registry.register(_ReadyCollector(bodies))


class _ReadyCollector(Collector):
    """ModelDeployments by Ready status, counted at scrape time from the cache (never drifts)."""

    def __init__(self, bodies: Callable[[], Iterable[dict]]):
        self._bodies = bodies

    def collect(self):
        tally = Tally({"True": 0, "False": 0, "Unknown": 0})
        for body in self._bodies():
            conditions = ((body.get("status") or {}).get("conditions")) or []
            ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), "Unknown")
            tally[ready if ready in tally else "Unknown"] += 1
        family = GaugeMetricFamily("modeldeploy_modeldeployments", "ModelDeployments by Ready status.",
                                   labels=["ready"])
        for status, count in sorted(tally.items()):
            family.add_metric([status], count)
        yield family
