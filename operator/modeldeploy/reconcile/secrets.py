"""The few Secrets the operator reads: the API key a ModelDeployment's spec.auth names.

Read with `get` (never listed or watched: the operator holds no other
Secret), and kept for a resync period, so a reconcile costs at most one read
per period for a model with auth, and a rotated key reaches the pod template
(and rolls the pods) within that period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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
            secret: dict | None = self._client.get(SECRET, namespace, name)
        except NotFound:
            secret = None
        except ApiError:
            return held[1] if held else None
        with self._lock:
            self._held[key] = (now, secret)
        return secret
