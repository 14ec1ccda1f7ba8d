"""status.autoscaling: one pure function of what the autoscaler last saw and decided."""

from __future__ import annotations

from ..api import AutoscalingStatus
from ..clients.quantity import quantity_value
from .decide import Decision, format_value
from ..timestamps import iso


def autoscaling_status(engine: str, metric: str, target: str, decision: Decision | None = None, *,
                       last_scale_time: float | None = None, capacity: float | None = None,
                       current_value: str | None = None, desired_replicas: int | None = None) -> dict:
    """The status.autoscaling object (camelCase, as the API stores it).

    For the builtin engine pass the loop's last decision; for hpa and keda the
    reconciler passes what the HPA reports (current_value, desired_replicas).
    """
    fields: dict = {"engine": engine, "metric": metric, "target": target,
                    "current_value": current_value, "desired_replicas": desired_replicas}
    if decision is not None:
        verdict = decision.verdict
        fields.update(
            current_value=None if decision.value is None else format_value(decision.value, metric),
            desired_replicas=decision.desired,
            mode=decision.mode,
            reason=verdict.reason if verdict else decision.reason,
            message=verdict.message if verdict else decision.message,
        )
        last_scale_time = decision.state.last_scale_time if decision.state.last_scale_time is not None \
            else last_scale_time
        capacity = decision.state.capacity if decision.state.capacity is not None else capacity
    if last_scale_time is not None:
        fields["last_scale_time"] = iso(last_scale_time)
    if capacity is not None:
        fields["capacity_per_replica"] = round(capacity, 1)
    return AutoscalingStatus(**fields).to_wire()


def hpa_current_value(hpa_status: dict, metric: str, adapter: bool = True) -> str | None:
    """The metric an HPA last read, as status.autoscaling shows it ("72%" of CPU, "12" requests, "52.3ms").

    `adapter`: queue time comes through prometheus-adapter's rules in microseconds (engine hpa); KEDA's
    trigger query gives milliseconds already (engine keda).
    """
    for reading in hpa_status.get("currentMetrics") or []:
        current = (reading.get("resource") or reading.get("pods") or reading.get("object") or reading.get("external")
                   or {}).get("current") or {}
        if "averageUtilization" in current:
            return f"{current['averageUtilization']}%"
        quantity = current.get("averageValue", current.get("value"))
        if quantity is None:
            continue
        try:
            value = quantity_value(str(quantity))
        except ValueError:
            return str(quantity)
        # Queue time reaches the HPA in the adapter's unit, microseconds per request: shown as the target is.
        return format_value(value / 1000.0 if metric == "queueTime" and adapter else value, metric)
    return None
