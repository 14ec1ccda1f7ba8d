"""Kubernetes Events for condition transitions (never for steady state)."""

from __future__ import annotations

from ..api import API_VERSION, KIND
from .conditions import Transition
from .redact import redact

COMPONENT = "modeldeploy"


def build_event(md_body: dict, transition: Transition, now: str, instance: str) -> dict:
    meta = md_body["metadata"]
    reason = transition.reason if transition.type == "Ready" or transition.status == "True" else "Recovered"
    message = transition.message or f"{transition.type} is {transition.status}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta.get("namespace", "default")},
        "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"],
                           "namespace": meta.get("namespace", "default"), "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "reason": reason,
        "message": redact(f"{transition.type}={transition.status}: {message}"),
        "type": "Warning" if transition.warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
