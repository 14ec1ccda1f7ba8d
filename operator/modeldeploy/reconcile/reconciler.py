"""Reconcile one ModelDeployment: desired children in, the fewest API writes out.

Level-triggered: everything is derived from the current spec and the observed
cache, never from what event arrived. Concurrent requests for the same
ModelDeployment coalesce (one runs, the rest mark it dirty and it runs once
more), so a burst of edits converges on the last one with no races.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from dataclasses import dataclass

from ..api import API_VERSION, KIND, InvalidSpec, ModelDeployment, parse_model_deployment
from ..builders import BuildOptions, build_all
from ..builders import naming as n
from ..clients import ApiError, Conflict, Invalid, KubeClient, NotFound
from ..clients.permissions import KINDS
from .compact import pack, unpack
from .conditions import Facts, Revision, compute_status, rolled_out, status_patch
from .diff import applied_hash, in_sync, stamp
from .events import build_event
from .metrics import OperatorMetrics
from .observed import Key, Observed, ObservedCache, full_object
from .redact import redact

log = logging.getLogger("modeldeploy.reconcile")

CONFLICT_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 300.0
# A server's Retry-After is honoured up to this: a bogus hour-long value must not stall a model.
MAX_RETRY_AFTER_SECONDS = 120.0


@dataclass(frozen=True)
class Desired:
    """One desired child, kept compressed between reconciles (1,000 ModelDeployments stay small)."""

    kind: str
    name: str
    hash: str
    blob: bytes

    @classmethod
    def of(cls, obj: dict) -> Desired:
        return cls(obj["kind"], obj["metadata"]["name"], applied_hash(obj) or "", pack(obj))

    @property
    def slot(self) -> tuple[str, str]:
        return self.kind, self.name

    def obj(self) -> dict:
        return unpack(self.blob)


@dataclass(frozen=True)
class Plan:
    """What the status and the apply need of a validated spec, without keeping the whole model."""

    version: str
    url: str
    grpc_address: str
    selector: str

    @classmethod
    def of(cls, md: ModelDeployment) -> Plan:
        host = f"{n.service_name(md)}.{md.namespace}.svc"
        return cls(
            version=md.spec.model.version,
            url=f"http://{host}:{n.HTTP_PORT}/v2/models/{md.model_name}",
            grpc_address=f"{host}:{n.GRPC_PORT}",
            selector=",".join(f"{k}={v}" for k, v in n.selector_labels(md).items()),
        )


@dataclass(frozen=True)
class Outcome:
    result: str  # applied | unchanged | invalid | rejected | gone | retry | error
    writes: int = 0
    retry_after: float | None = None


def utcnow() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reconciler:
    def __init__(self, client: KubeClient, cache: ObservedCache, *, metrics: OperatorMetrics,
                 options: BuildOptions = BuildOptions(), instance: str = "modeldeploy", clock=utcnow):
        self._client = client
        self._cache = cache
        self._metrics = metrics
        self._options = options
        self._instance = instance
        self._clock = clock
        self._guard = threading.Lock()
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        # (uid, generation) → (plan, desired children): the spec cannot change without a new generation,
        # so resyncs and event echoes skip validation and building.
        self._built: dict[Key, tuple[tuple, Plan, list[Desired]]] = {}
        # Children found in sync, by resourceVersion: unchanged since, they need no field-by-field check.
        self._verified: dict[Key, dict[tuple[str, str], tuple[str, str]]] = {}

    def reconcile(self, key: Key) -> Outcome | None:
        """Reconcile now, or make the reconcile already running for this key go once more."""
        with self._guard:
            if key in self._running:
                self._dirty.add(key)
                return None
            self._running.add(key)
        try:
            while True:
                outcome = self._measured(key)
                with self._guard:
                    if key not in self._dirty:
                        self._running.discard(key)
                        return outcome
                    self._dirty.discard(key)
        except BaseException:
            with self._guard:
                self._running.discard(key)
                self._dirty.discard(key)
            raise

    # -- one pass -----------------------------------------------------------------------------------

    def _measured(self, key: Key) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = self._once(key)
            self._failures.pop(key, None)
        except ApiError as err:
            outcome = self._retry(key, err, f"{err.verb} {err.kind} failed with {err.status}: {redact(err.message)}")
        except Exception as err:  # a bug must not kill the operator nor leak into status
            log.exception("reconcile of %s/%s failed unexpectedly", *key)
            outcome = self._retry(key, err, f"unexpected {type(err).__name__}")
        self._metrics.reconcile_seconds.observe(time.perf_counter() - started)
        self._metrics.reconciles.labels(result=outcome.result).inc()
        return outcome

    def _retry(self, key: Key, err: Exception, message: str) -> Outcome:
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (failures - 1))
        told = getattr(err, "retry_after", None)
        if told is not None:
            delay = max(delay, min(told, MAX_RETRY_AFTER_SECONDS))
        log.warning("%s/%s: %s; retrying in %.0fs", *key, message, delay)
        return Outcome("retry", retry_after=delay)

    def _once(self, key: Key) -> Outcome:
        body = self._cache.md(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._built.pop(key, None)
            self._verified.pop(key, None)
            return Outcome("gone")
        generation = int(body["metadata"].get("generation") or 0)
        version = (body["metadata"].get("uid"), generation)
        built = self._built.get(key)
        if built is not None and built[0] == version and version[1]:
            _, plan, desired = built
        else:
            try:
                md = parse_model_deployment({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")
                                             if k in body})
            except InvalidSpec as err:
                # Nothing is applied or pruned: what already serves keeps serving.
                self._built.pop(key, None)
                writes = self._finish(body, Facts(generation, spec_error=redact(str(err))))
                return Outcome("invalid", writes)
            desired = [Desired.of(obj) for obj in self._desired(md, body)]
            plan = Plan.of(md)
            self._built[key] = (version, plan, desired)
        observed = self._cache.snapshot(key)
        writes, apply_error = self._apply(key, desired, observed)
        if writes:
            observed = self._cache.snapshot(key)  # with what the writes returned
        if apply_error is None:
            facts = self._facts(key, plan, generation, desired, observed)
            pruned = self._prune(key, body, desired, observed, prune_revisions=rolled_out(facts.deployment))
            if pruned:
                writes += pruned
                facts = self._facts(key, plan, generation, desired, self._cache.snapshot(key))
        else:
            facts = Facts(generation, apply_error=apply_error)
        writes += self._finish(body, facts)
        result = "rejected" if apply_error else ("applied" if writes else "unchanged")
        return Outcome(result, writes)

    # -- children -----------------------------------------------------------------------------------

    def _desired(self, md: ModelDeployment, body: dict) -> list[dict]:
        uid = body["metadata"].get("uid")
        objects = []
        for obj in build_all(md, self._options):
            if uid:
                obj["metadata"]["ownerReferences"] = [{
                    "apiVersion": API_VERSION, "kind": KIND, "name": md.name, "uid": uid,
                    "controller": True, "blockOwnerDeletion": True,
                }]
            objects.append(stamp(obj))
        return objects

    def _in_sync(self, key: Key, want: Desired, current: dict | None) -> bool:
        if current is None or applied_hash(current) != want.hash:
            return False
        rv = current["metadata"].get("resourceVersion")
        verified = self._verified.setdefault(key, {})
        if rv is not None and verified.get(want.slot) == (want.hash, rv):
            return True
        ok = in_sync(want.obj(), full_object(current))
        if ok and rv is not None:
            verified[want.slot] = (want.hash, rv)
        return ok

    def _apply(self, key: Key, desired: list[Desired], observed: Observed) -> tuple[int, str | None]:
        writes = 0
        for want in desired:
            current = observed.children.get(want.slot)
            if self._in_sync(key, want, current):
                continue
            obj = want.obj()
            try:
                self._record(key, want, self._apply_one(obj))
                writes += 1
            except Invalid as err:
                return writes, redact(f"the API server rejected {want.kind} {want.name}: {err.message}")
        return writes, None

    def _apply_one(self, obj: dict, **kwargs) -> dict:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._client.apply(obj, **kwargs)
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _record(self, key: Key, want: Desired, applied: dict) -> None:
        """Write-through of an apply's response: its watch echo is then no news, its content verified."""
        self._cache.put(applied, whole=False)
        self._verified.setdefault(key, {})[want.slot] = (want.hash, applied["metadata"].get("resourceVersion"))

    def _prune(self, key: Key, body: dict, desired: list[Desired], observed: Observed, *,
               prune_revisions: bool) -> int:
        """Delete owned children the spec no longer produces; old revisions only once the new one serves."""
        wanted = {want.slot for want in desired}
        uid = body["metadata"].get("uid")
        writes = 0
        for (kind, name), child in observed.children.items():
            if (kind, name) in wanted or not _owned_by(child, uid):
                continue
            is_revision = n.REVISION_LABEL in (child["metadata"].get("labels") or {})
            if is_revision and not prune_revisions:
                continue
            try:
                self._client.delete(KINDS[kind], key[0], name)
            except NotFound:
                pass
            self._cache.forget(kind, key, name)
            writes += 1
        return writes

    # -- status -------------------------------------------------------------------------------------

    def _facts(self, key: Key, plan: Plan, generation: int, desired: list[Desired],
               observed: Observed) -> Facts:
        version = plan.version
        current = n.revision(version)
        wanted = next(want for want in desired if want.kind == "Deployment")
        deployment = observed.children.get(wanted.slot)
        if deployment is not None and not self._in_sync(key, wanted, deployment):
            deployment = None  # not yet the current spec
        revisions = []
        for (kind, _), child in sorted(observed.children.items()):
            if kind == "Deployment":
                labels = child["metadata"].get("labels") or {}
                status = child.get("status") or {}
                revisions.append(Revision(
                    version=labels.get("app.kubernetes.io/version", "?"),
                    replicas=int(status.get("replicas") or 0), ready_replicas=int(status.get("readyReplicas") or 0),
                ))
        return Facts(
            generation=generation,
            url=plan.url,
            grpc_address=plan.grpc_address,
            selector=plan.selector,
            current_version=version,
            deployment=deployment,
            pods=tuple(p for p in observed.pods
                       if (p["metadata"].get("labels") or {}).get(n.REVISION_LABEL) == current),
            revisions=tuple(revisions),
        )

    def _finish(self, body: dict, facts: Facts) -> int:
        """The one place status is written: only when it changed, then one Event per transition."""
        now = self._clock()
        status, transitions = compute_status(facts, body.get("status"), now)
        patch = status_patch(body.get("status"), status)
        if patch is None:
            return 0
        meta = body["metadata"]
        self._cache.put_md(self._client.patch_status(meta.get("namespace", "default"), meta["name"], patch))
        writes = 1
        for transition in transitions:
            try:
                self._client.create_event(build_event(body, transition, now, self._instance))
                writes += 1
            except ApiError as err:  # an Event is best effort; the status already says it
                log.warning("event for %s/%s not recorded: %s", meta.get("namespace"), meta["name"],
                            redact(err.message))
        return writes


def _owned_by(child: dict, uid: str | None) -> bool:
    refs = child["metadata"].get("ownerReferences") or []
    return uid is not None and any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


__all__ = ["Outcome", "Reconciler"]
