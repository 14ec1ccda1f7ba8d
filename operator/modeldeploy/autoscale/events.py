"""The Event the loop's recorder posts for each scale (and each ScalingLimited verdict)."""

from __future__ import annotations

from ..api import API_VERSION, KIND
from ..timestamps import iso
from .targets import Target

COMPONENT = "modeldeploy-autoscaler"


def scale_event(target: Target, reason: str, message: str, warning: bool, now: float, instance: str) -> dict:
    """A core/v1 Event on the ModelDeployment, e.g. reason ScaledUp, "scaled 2 → 4: queue time 180ms > ..."."""
    at = iso(now)
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": f"{target.name}.", "namespace": target.namespace},
        "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "name": target.name,
                           "namespace": target.namespace, "uid": target.uid},
        "reason": reason, "message": message, "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT}, "reportingComponent": COMPONENT, "reportingInstance": instance,
        "firstTimestamp": at, "lastTimestamp": at, "count": 1,
    }
