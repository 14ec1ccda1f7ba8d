"""The few Secrets the operator reads: those a ModelDeployment's spec names.

The API key of spec.auth (for its own smoke and metrics calls, and to roll
the pods when it rotates), and whether spec.model.storage.credentialsSecret
exists (a pod that cannot mount it only waits; the operator says why). Read
with `get` (never listed or watched), and kept for a resync period, so a
reconcile costs at most one read per period and Secret. Only the API key's
entry is kept in memory: the storage credentials are never held.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..api import API_KEY_SECRET_KEY
from ..clients import ApiError, KubeClient, NotFound
from ..clients.permissions import SECRET


class SecretReader:
    def __init__(self, client: KubeClient, *, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], tuple[float, dict | None]] = {}

    def get(self, namespace: str, name: str) -> dict | None:
        """The Secret, or None when it does not exist (or cannot be read: the pods then say why)."""
        key = (namespace, name)
        now = self._clock()
        with self._lock:
            held = self._held.get(key)
        if held is not None and now - held[0] < self._ttl:
            return held[1]
        try:
            secret: dict | None = _kept_part(self._client.get(SECRET, namespace, name))
        except NotFound:
            secret = None
        except ApiError:
            return held[1] if held else None
        with self._lock:
            self._held[key] = (now, secret)
        return secret


def _kept_part(secret: dict) -> dict:
    meta = secret.get("metadata") or {}
    data = secret.get("data") or {}
    return {"metadata": {k: meta[k] for k in ("name", "namespace", "uid") if k in meta},
            "data": {API_KEY_SECRET_KEY: data[API_KEY_SECRET_KEY]} if API_KEY_SECRET_KEY in data else {}}
