"""Kubernetes Events for condition transitions and rollout steps (never for steady state)."""

from __future__ import annotations

from ..api import API_VERSION, KIND
from .conditions import Transition
from .redact import redact

COMPONENT = "modeldeploy"


def transition_event(md_body: dict, transition: Transition, now: str, instance: str) -> dict:
    reason = transition.reason if transition.type == "Ready" or transition.status == "True" else "Recovered"
    message = transition.message or f"{transition.type} is {transition.status}"
    return build_event(md_body, reason, f"{transition.type}={transition.status}: {message}",
                       warning=transition.warning, now=now, instance=instance)


def build_event(md_body: dict, reason: str, message: str, *, warning: bool, now: str, instance: str) -> dict:
    meta = md_body["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta.get("namespace", "default")},
        "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"],
                           "namespace": meta.get("namespace", "default"), "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "reason": reason,
        "message": redact(message),
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
