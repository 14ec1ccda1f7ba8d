"""The smoke gate: every new pod answers one config-shaped inference before it takes traffic.

Pods carry a readiness gate (`serving.modeldeploy.io/smoke`): the kubelet
keeps them out of their Services until the operator sets that condition. The
gate sends the smoke inference straight to the pod's address (the same
`modeldeploy_runtime.smoke` that `modeldeploy serve` runs) once Triton says
the model is ready, and writes the verdict into the pod's status. A failure
is written too (False, with the reason): a canary that fails it is rolled
back; any other pod is tried again after a while.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from ..api import ModelDeployment
from ..builders import naming as n
from ..clients import ApiError, Conflict, KubeClient, NotFound
from ..timestamps import iso
from ..clients.permissions import POD

log = logging.getLogger("modeldeploy.rollout.gate")

Key = tuple[str, str]
Smoke = Callable[..., object]  # modeldeploy_runtime.smoke.smoke: (md, url, *, headers, timeout) -> SmokeResult
RETRY_FAILED_SECONDS = 30.0
SMOKE_TIMEOUT_SECONDS = 10.0


def _condition(pod: dict, kind: str) -> dict | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def triton_ready(pod: dict) -> bool:
    """Triton's readiness probe (the model's own ready endpoint) passes: the model answers, in principle."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(s.get("name") == "triton" and s.get("ready") for s in statuses)


class SmokeGate:
    def __init__(self, client: KubeClient, smoke: Smoke, *, headers: Callable[[ModelDeployment], dict | None],
                 on_verdict: Callable[[Key], None] = lambda key: None, workers: int = 4,
                 clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._smoke = smoke
        self._headers = headers
        self._on_verdict = on_verdict
        self._clock = clock
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="smoke")
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # pod uids being smoke-tested
        self._failed_at: dict[str, float] = {}

    def check(self, key: Key, mds: Mapping[str, ModelDeployment], pods: Sequence[dict]) -> None:
        """Start the smoke of every pod that needs it; `mds` gives each revision's spec (its own config)."""
        for pod in pods:
            meta = pod["metadata"]
            md = mds.get((meta.get("labels") or {}).get(n.REVISION_LABEL, ""))
            if md is None or meta.get("deletionTimestamp") or not triton_ready(pod) \
                    or not n.has_smoke_gate(pod.get("spec") or {}):
                continue
            ip = (pod.get("status") or {}).get("podIP")
            verdict = _condition(pod, n.SMOKE_CONDITION)
            uid = meta.get("uid") or meta["name"]
            if not ip or (verdict is not None and verdict.get("status") == "True"):
                continue
            with self._lock:
                if uid in self._busy:
                    continue
                if verdict is not None and self._clock() - self._failed_at.get(uid, 0.0) < RETRY_FAILED_SECONDS:
                    continue
                self._busy.add(uid)
            self._pool.submit(self._run, key, md, pod, ip, uid)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, key: Key, md: ModelDeployment, pod: dict, ip: str, uid: str) -> None:
        try:
            if md.spec.rollout.analysis.smoke_test:
                result = self._smoke(md, f"{ip}:{n.HTTP_PORT}", headers=self._headers(md),
                                     timeout=SMOKE_TIMEOUT_SECONDS)
                ok, message = bool(result.ok), str(result.message)
            else:
                # A pod made while the smoke test was on still carries the gate: opened, not left shut.
                ok, message = True, "smoke test off (spec.rollout.analysis.smokeTest: false)"
            if not ok:
                with self._lock:
                    self._failed_at[uid] = self._clock()
                log.warning("smoke inference failed on pod %s/%s: %s", key[0], pod["metadata"]["name"], message)
            self._record(key[0], pod["metadata"]["name"], ok, message)
            self._on_verdict(key)
        except Exception:  # noqa: BLE001 - a bug here must not stop the gate for other pods
            log.exception("smoke gate of pod %s/%s failed", key[0], pod["metadata"]["name"])
        finally:
            with self._lock:
                self._busy.discard(uid)

    def _record(self, namespace: str, name: str, ok: bool, message: str) -> None:
        """Set the gate's condition in the pod's status, keeping the kubelet's own conditions."""
        condition = {"type": n.SMOKE_CONDITION, "status": "True" if ok else "False",
                     "reason": "SmokePassed" if ok else "SmokeFailed", "message": message[:1000],
                     "lastTransitionTime": iso(time.time())}
        for _ in range(5):
            try:
                pod = self._client.get(POD, namespace, name)
            except NotFound:
                return
            rv = pod["metadata"].get("resourceVersion")
            conditions = [c for c in (pod.get("status") or {}).get("conditions") or []
                          if c.get("type") != n.SMOKE_CONDITION]
            patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                     {"op": "add", "path": "/status/conditions", "value": conditions + [condition]}]
            try:
                self._client.patch_pod_status(namespace, name, patch)
                return
            except Conflict:
                continue  # the kubelet wrote meanwhile: read again
            except NotFound:
                return
            except ApiError as err:
                log.warning("cannot record the smoke verdict on pod %s/%s: %s", namespace, name, err.message[:200])
                return
