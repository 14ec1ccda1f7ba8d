"""Kubernetes Events for condition transitions and rollout steps (never for steady state)."""

from __future__ import annotations

import logging

from ..api import API_VERSION, KIND
from ..clients import ApiError, KubeClient
from ..clients.errors import Retryable
from .conditions import Transition
from .redact import redact

log = logging.getLogger("modeldeploy.reconcile")

COMPONENT = "modeldeploy"
EVENT_ATTEMPTS = 5


class EventPoster:
    """Posts a ModelDeployment's Events. One the API server refuses for a passing reason (429, 5xx, no answer)
    is tried again at the next pass, a few times; the status already says what it tells."""

    def __init__(self, client: KubeClient):
        self._client = client
        self._unsent: dict[tuple[str, str], list[tuple[dict, int]]] = {}  # refused Events, with their tries

    def post(self, key: tuple[str, str], events: list[dict]) -> int:
        """The Events held back, then these; returns how many were written."""
        queue = self._unsent.pop(key, []) + [(event, 0) for event in events]
        writes = 0
        for event, tries in queue:
            try:
                self._client.create_event(event)
                writes += 1
            except ApiError as err:
                if isinstance(err, Retryable) and tries + 1 < EVENT_ATTEMPTS:
                    self._unsent.setdefault(key, []).append((event, tries + 1))
                else:
                    log.warning("event for %s/%s not recorded: %s", *key, redact(err.message))
        return writes

    def forget(self, key: tuple[str, str]) -> None:
        self._unsent.pop(key, None)


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
