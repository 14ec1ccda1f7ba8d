"""The builtin autoscaler's own Prometheus metrics, registered on the operator's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .decide import Decision

LABELS = ["namespace", "modeldeployment"]


class AutoscalerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter("modeldeploy_autoscaler_decisions", "Builtin autoscaler decisions by result "
                                 "(ScaleUp, ScaleDown, Steady, NoMetrics, Error: a decision that failed).", [*LABELS, "result"], registry=r)
        self.scale_writes = Counter("modeldeploy_autoscaler_scale_writes", "Writes to a ModelDeployment's /scale "
                                    "by outcome (ok, error).", [*LABELS, "outcome"], registry=r)
        self.scrape_errors = Counter("modeldeploy_autoscaler_scrape_errors", "Pods whose Triton metrics could not "
                                     "be read (left out of the decision, never counted as idle).", LABELS, registry=r)
        self.desired = Gauge("modeldeploy_autoscaler_desired_replicas", "Replicas the builtin autoscaler asks for.",
                             LABELS, registry=r)
        self.value = Gauge("modeldeploy_autoscaler_metric_value", "The scaling metric over the stable window "
                           "(milliseconds for queueTime, per replica otherwise).", [*LABELS, "metric"], registry=r)
        self.target = Gauge("modeldeploy_autoscaler_metric_target", "The scaling metric's target.",
                            [*LABELS, "metric"], registry=r)
        self.panic = Gauge("modeldeploy_autoscaler_panic", "1 while the autoscaler is in panic mode.", LABELS,
                           registry=r)
        self.tick_seconds = Histogram("modeldeploy_autoscaler_tick_duration_seconds",
                                      "One tick over every target: scrapes, decisions and writes.",
                                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self._metric: dict[tuple[str, str], str] = {}  # the metric each ModelDeployment's series are labelled with

    def record(self, key: tuple[str, str], metric: str, target: float, decision: Decision) -> None:
        labels = dict(namespace=key[0], modeldeployment=key[1])
        previous = self._metric.get(key)
        if previous is not None and previous != metric:  # spec.autoscaling.metric changed: one series, not two
            for gauge in (self.value, self.target):
                _remove(gauge, key[0], key[1], previous)
        self._metric[key] = metric
        self.decisions.labels(**labels, result=decision.reason).inc()
        if decision.left_out:
            self.scrape_errors.labels(**labels).inc(len(decision.left_out))
        self.desired.labels(**labels).set(decision.desired)
        if decision.value is not None:
            self.value.labels(**labels, metric=metric).set(decision.value)
        self.target.labels(**labels, metric=metric).set(target)
        self.panic.labels(**labels).set(1 if decision.mode == "Panic" else 0)

    def forget(self, key: tuple[str, str], metric: str) -> None:
        """A ModelDeployment that is gone (or no longer builtin) leaves no stale series behind."""
        for gauge in (self.desired, self.panic):
            _remove(gauge, key[0], key[1])
        for name in {metric, self._metric.pop(key, metric)}:
            for gauge in (self.value, self.target):
                _remove(gauge, key[0], key[1], name)


def _remove(metric, *labels: str) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        pass
