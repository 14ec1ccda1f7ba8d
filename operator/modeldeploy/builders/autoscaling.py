"""The hpa and keda engines: a HorizontalPodAutoscaler or a KEDA ScaledObject that scales the ModelDeployment.

Both target the ModelDeployment itself through its scale subresource, so every
engine sets the one total (spec.replicas) and the operator splits it among
revisions. The builtin engine builds nothing: the operator's loop scales.
"""

from __future__ import annotations

from ..api import API_VERSION, KIND, ModelDeployment
from . import naming as n
from .options import BuildOptions

# Pods metrics as the chart's prometheus-adapter rules name them (charts/modeldeploy-operator/files/
# prometheus-adapter-rules.yaml); a chart test checks both sides agree.
ADAPTER_METRICS = {
    "queueTime": "nv_inference_queue_duration_us_per_request",  # microseconds per request over 30 s
    "pendingRequests": "nv_inference_pending_request_count",
    "inflight": "nv_inference_inflight_requests",  # Little's law: request time per second
}
RATE_WINDOW = "30s"


def _scale_target(md: ModelDeployment) -> dict:
    return {"apiVersion": API_VERSION, "kind": KIND, "name": md.name}


def build_hpa(md: ModelDeployment) -> dict | None:
    scaling = md.spec.autoscaling
    if scaling is None or scaling.engine != "hpa":
        return None
    if scaling.metric == "cpu":
        metric = {"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": int(scaling.target)}}}
    else:
        # Per pod: queue time in microseconds (the adapter's unit), counts as they are.
        value = scaling.target_value * 1000 if scaling.metric == "queueTime" else scaling.target_value
        metric = {"type": "Pods", "pods": {
            "metric": {"name": ADAPTER_METRICS[scaling.metric],
                       "selector": {"matchLabels": {"model": md.model_name}}},
            "target": {"type": "AverageValue", "averageValue": _quantity(value)}}}
    spec: dict = {
        "scaleTargetRef": _scale_target(md),
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": [metric],
    }
    if scaling.behavior is not None:
        spec["behavior"] = scaling.behavior.to_wire()
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": n.metadata(md, md.name, n.common_labels(md)), "spec": spec}


def promql(md: ModelDeployment, metric: str) -> str:
    """This ModelDeployment's pods, as the Triton ServiceMonitor labels them (service <name>-metrics)."""
    labels = f'namespace="{md.namespace}",service="{n.metrics_service_name(md)}",model="{md.model_name}"'
    if metric == "queueTime":  # milliseconds per request, over every pod
        return (f"sum(rate(nv_inference_queue_duration_us{{{labels}}}[{RATE_WINDOW}])) / "
                f"clamp_min(sum(rate(nv_inference_request_success{{{labels}}}[{RATE_WINDOW}])), 1e-9) / 1000")
    if metric == "pendingRequests":
        return f"sum(nv_inference_pending_request_count{{{labels}}})"
    if metric == "inflight":
        return f"sum(rate(nv_inference_request_duration_us{{{labels}}}[{RATE_WINDOW}])) / 1e6"
    raise ValueError(f"no PromQL for metric {metric}")


def build_scaled_object(md: ModelDeployment, options: BuildOptions = BuildOptions()) -> dict | None:
    scaling = md.spec.autoscaling
    if scaling is None or scaling.engine != "keda":
        return None
    if scaling.metric == "cpu":
        trigger = {"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(scaling.target)}}
    else:
        # Queue time is an average over the pods (Value: desired = ready × value / target); counts are totals
        # (AverageValue: desired = total / target), as the builtin engine reads them.
        trigger = {
            "type": "prometheus",
            "metricType": "Value" if scaling.metric == "queueTime" else "AverageValue",
            "metadata": {"serverAddress": options.keda_prometheus_server, "query": promql(md, scaling.metric),
                         "threshold": _number(scaling.target_value)},
        }
    spec: dict = {
        "scaleTargetRef": _scale_target(md),
        "minReplicaCount": scaling.min_replicas,
        "maxReplicaCount": scaling.max_replicas,
        "triggers": [trigger],
    }
    if scaling.behavior is not None:
        spec["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": scaling.behavior.to_wire()}}
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": n.metadata(md, md.name, n.common_labels(md)), "spec": spec}


def keda_hpa_name(md: ModelDeployment) -> str:
    """The HPA KEDA makes for the ScaledObject (its getHPAName); it copies the ScaledObject's labels onto it, so
    the operator's cache files it under this ModelDeployment, and its controller is the ScaledObject, so the
    operator never prunes it."""
    return f"keda-hpa-{md.name}"[:63]


def build_autoscaler(md: ModelDeployment, options: BuildOptions = BuildOptions()) -> dict | None:
    """The engine's object; None for the builtin engine, and for keda while its CRD is not installed."""
    if options.keda_available:
        return build_hpa(md) or build_scaled_object(md, options)
    return build_hpa(md)


def autoscaler_unavailable(md: ModelDeployment, keda_available: bool) -> str | None:
    """The message of an AutoscalerUnavailable condition, or None when the engine can work."""
    scaling = md.spec.autoscaling
    if scaling is not None and scaling.engine == "keda" and not keda_available:
        return ("engine keda needs KEDA: the CustomResourceDefinition scaledobjects.keda.sh is not installed; "
                "install KEDA or choose engine builtin or hpa")
    return None


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
