"""status.autoscaling as the reconciler writes it: the builtin autoscaler's last decision, or what the HPA
(the operator's own, or the one KEDA made for its ScaledObject) reports."""

from __future__ import annotations

from ..api import ModelDeployment
from ..autoscale import autoscaling_status
from ..autoscale.status import hpa_current_value
from ..builders import keda_hpa_name
from .observed import Observed


def autoscaling_view(md: ModelDeployment, observed: Observed, builtin: dict | None) -> dict | None:
    """`builtin`: the builtin loop's status for this ModelDeployment, None when it has decided nothing since
    this operator started."""
    scaling = md.spec.autoscaling
    if scaling is None:
        return None
    if scaling.engine == "builtin":
        if builtin is not None:
            return builtin
        # No decision since this operator started: what the API holds stands (a restart writes nothing and
        # loses no lastScaleTime or capacity), unless it speaks of another setting.
        held = ((observed.md or {}).get("status") or {}).get("autoscaling") or {}
        asked = ("builtin", scaling.metric, str(scaling.target))
        if (held.get("engine"), held.get("metric"), held.get("target")) == asked:
            return held
        return autoscaling_status("builtin", scaling.metric, str(scaling.target))
    name = md.name if scaling.engine == "hpa" else keda_hpa_name(md)
    hpa = (observed.children.get(("HorizontalPodAutoscaler", name)) or {}).get("status") or {}
    return autoscaling_status(scaling.engine, scaling.metric, str(scaling.target),
                              current_value=hpa_current_value(hpa, scaling.metric, adapter=scaling.engine == "hpa"),
                              desired_replicas=hpa.get("desiredReplicas"))
