"""A Kubernetes API emulator that behaves enough like a real API server for the operator.

kmock's KubernetesEmulator stores objects and serves list/watch over real HTTP,
but keeps no resourceVersion, never sets uid/generation, merges every patch as
a plain dict, and does not split the status subresource. Each of those hides a
bug a real cluster would show, so `ApiServer` adds, for writes:
- resourceVersion on every write, and 409 when a write names a stale one
  (JSON-patch `test` ops included, which kopf relies on);
- uid, creationTimestamp, generation=1 on create; generation bumps only when
  `spec` changes; generateName;
- server-side apply: a PATCH with application/apply-patch+yaml creates the
  object when missing (lists are replaced, not merged by key: the operator
  always applies whole objects; label selectors, atomic in the schema, are
  replaced whole);
- the status split for resources declared with a status subresource: writes to
  the object ignore `status`, writes to `/status` change only `status`;
- deletion: finalizers hold an object (deletionTimestamp) until removed; a pod
  bound to a node is deleted gracefully (deletionTimestamp and
  deletionGracePeriodSeconds set, the object kept) until a DELETE with
  gracePeriodSeconds=0 (what the kubelet sends once its containers stopped);
- pods/binding: a Binding sets spec.nodeName and PodScheduled=True at once;
- the scale subresource: GET and PATCH `.../NAME/scale` speak autoscaling/v1
  Scale (spec.replicas, status.replicas, status.selector), as `kubectl scale`
  and autoscalers use it;
- a Service gets a spec.clusterIP on create when the server is given an
  address allocator (the loopback harness does);
- watches list and subscribe under one lock, so no event falls between the two;
- a log of write requests (method, path) for "zero writes" assertions, and
  injectable faults (e.g. one 500, or a 422 with a message, with Retry-After);
- label selectors on lists and watches (equality and existence), with a real
  server's watch semantics: an object that stops matching arrives as DELETED,
  one that starts matching as ADDED; lists carry the resourceVersion they
  were read at;
- watches resume from a resourceVersion over a bounded history of events and
  get 410 Gone beyond it, as from the API server's watch cache;
- an outage (every client but the test's gets 503, watches are cut and the
  history is lost, as after a long outage) and writes with no watch event,
  to stand for what a broken watch misses.
It still does no garbage collection, defaulting or schema validation; tests
that depend on those say so (the loopback harness in support/cluster adds
garbage collection as a controller, as a cluster does).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import datetime
import itertools
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
import urllib3
from kmock._internal import apps, dicts, enums, k8s, rendering

WRITES = {enums.action.CREATE, enums.action.UPDATE, enums.action.DELETE}
APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"

# Everything the operator (and kopf) touch, with what discovery must say about them.
RESOURCES: dict[str, dict[str, Any]] = {
    "v1/namespaces": {"kind": "Namespace", "namespaced": False},
    "v1/pods": {"kind": "Pod", "namespaced": True, "subresources": {"status"}},
    "v1/services": {"kind": "Service", "namespaced": True, "subresources": {"status"}},
    "v1/configmaps": {"kind": "ConfigMap", "namespaced": True},
    "v1/secrets": {"kind": "Secret", "namespaced": True},
    "v1/events": {"kind": "Event", "namespaced": True},
    "apps/v1/deployments": {"kind": "Deployment", "namespaced": True, "subresources": {"status", "scale"}},
    "policy/v1/poddisruptionbudgets": {"kind": "PodDisruptionBudget", "namespaced": True,
                                       "subresources": {"status"}},
    "networking.k8s.io/v1/networkpolicies": {"kind": "NetworkPolicy", "namespaced": True},
    "autoscaling/v2/horizontalpodautoscalers": {"kind": "HorizontalPodAutoscaler", "namespaced": True,
                                                "subresources": {"status"}},
    "gateway.networking.k8s.io/v1/httproutes": {"kind": "HTTPRoute", "namespaced": True,
                                                "subresources": {"status"}},
    # Served always; the operator goes by the CRD object (below), as it must on a cluster without KEDA.
    "keda.sh/v1alpha1/scaledobjects": {"kind": "ScaledObject", "namespaced": True, "subresources": {"status"}},
    "apiextensions.k8s.io/v1/customresourcedefinitions": {"kind": "CustomResourceDefinition",
                                                          "namespaced": False},
    "kopf.dev/v1/clusterkopfpeerings": {"kind": "ClusterKopfPeering", "namespaced": False},
    "kopf.dev/v1/kopfpeerings": {"kind": "KopfPeering", "namespaced": True},
    "serving.modeldeploy.io/v1alpha1/modeldeployments": {"kind": "ModelDeployment", "namespaced": True,
                                                         "subresources": {"status", "scale"}},
}
VERBS = {"list", "watch", "get", "create", "patch", "update", "delete"}
# The User-Agent of what tests do as a user, told apart from the operator; the loopback
# harness's controllers send "modeldeploy-tests/<component>".
TEST_CLIENT = "modeldeploy-tests"
# Pod names' random suffixes use the API server's alphabet (no vowels, no look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SCALE_PATCH = {"application/merge-patch+json", "application/json", "application/strategic-merge-patch+json"}


@dataclass(frozen=True)
class Fault:
    method: str
    path: re.Pattern
    status: int
    message: str
    retry_after: float | None = None


CLOSE_WATCH = {"type": "__close__"}
HISTORY = 5000  # events a watch can resume across, like the API server's watch cache


def _version_of(event: dict) -> int:
    rv = ((event.get("object") or {}).get("metadata") or {}).get("resourceVersion")
    return int(rv) if isinstance(rv, str) and rv.isdigit() else 0  # put on a bus to end every watch stream of that resource


def selector_matches(selector: str | None, labels: dict[str, str] | None) -> bool:
    """A label selector's equality and existence terms (k=v, k==v, k!=v, k, !k) against labels."""
    labels = labels or {}
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if "!=" in term:
            key, value = (x.strip() for x in term.split("!=", 1))
            ok = labels.get(key) != value
        elif "=" in term:
            key, value = (x.strip() for x in term.replace("==", "=").split("=", 1))
            ok = labels.get(key) == value
        elif term.startswith("!"):
            ok = term[1:].strip() not in labels
        else:
            ok = term in labels
        if not ok:
            return False
    return True


def _labels(obj: dict | None) -> dict[str, str] | None:
    return ((obj or {}).get("metadata") or {}).get("labels")


class _Failure(Exception):
    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.retry_after = retry_after


def _failure_response(failure: _Failure) -> aiohttp.web.Response:
    headers = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
    return aiohttp.web.json_response({
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "code": failure.status, "reason": failure.reason, "message": failure.message,
    }, status=failure.status, headers=headers)


@attrs.define(kw_only=True)
class ApiServer(k8s.KubernetesEmulator):
    writes: list[tuple[str, str, float]] = attrs.field(factory=list, init=False)  # method, path, monotonic time
    requests_total: int = attrs.field(default=0, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    _counter: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _last_version: int = attrs.field(default=0, init=False)
    # Keep this many requests in kmock's log (None: all). Benchmarks bound it; it grows without limit.
    request_log_limit: int | None = None
    _pending_event: dict | None = attrs.field(default=None, init=False)
    outage_until: float = attrs.field(default=0.0, init=False)  # monotonic time
    # Recent events, for watches that resume from a resourceVersion; older ones get 410 Gone.
    _history: collections.deque = attrs.field(factory=lambda: collections.deque(maxlen=HISTORY), init=False)
    _history_floor: int = attrs.field(default=0, init=False)
    mute_events: bool = attrs.field(default=False, init=False)
    # Gives each new Service its spec.clusterIP (a callable returning an address); None: leave it unset.
    service_ips: Callable[[], str] | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for name, info in RESOURCES.items():
            self.resources[name] = kmock.ResourceInfo(verbs=VERBS, **info)

    # -- helpers for tests (call through `LiveApiServer`, which runs them on the server's loop) ----------

    def fail(self, method: str, path: str, status: int, message: str = "injected", times: int = 1,
             retry_after: float | None = None) -> None:
        for _ in range(times):
            self.faults.append(Fault(method.upper(), re.compile(path), status, message, retry_after))

    async def outage(self, seconds: float) -> None:
        """The API is unreachable for every client but the test: requests get 503, watches end."""
        self.outage_until = time.monotonic() + seconds
        # Longer than the watch cache reaches back: watches cannot resume, clients must list again.
        self._history.clear()
        self._history_floor = self._last_version + 1
        for bus in list(self._buses.values()):
            await bus.put(CLOSE_WATCH)

    # -- reads: label selectors and the list's resourceVersion ----------------------------------------

    async def _serve_list(self, request: rendering.Request) -> Any:
        body = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        body["items"] = [obj for obj in body["items"] if selector_matches(selector, _labels(obj))]
        body["metadata"] = {"resourceVersion": str(self._last_version)}
        return body

    async def _serve_watch(self, request: rendering.Request) -> Any:
        """kmock's watch, plus label selectors, resuming from a resourceVersion (410 Gone when the
        history no longer reaches back that far), and the end of every stream in an outage."""
        yield b""
        selector = request.params.get("labelSelector")
        since = request.params.get("resourceVersion") or "0"
        bus = self._buses[request.resource]
        async with self._lock:
            mark = await bus.mark()
            if not since.isdigit() or since == "0":
                objs = [obj.raw for obj in self._KubernetesEmulator__get_objs(request, strict=False) if not obj.deleted]
                replay: list[dict] | None = [{"type": "ADDED", "object": raw} for raw in objs]
            elif int(since) < self._history_floor:
                replay = None
            else:
                replay = [event for version, resource, event in self._history
                          if resource == request.resource and version > int(since)]
        try:
            if replay is None:
                yield {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                   "code": 410, "reason": "Expired",
                                                   "message": f"too old resource version: {since}"}}
                return
            seen = 0
            for event in replay:
                view = self._watch_view(request, selector, event)
                seen = max(seen, _version_of(event))
                if view is not None:
                    yield view
            async for event in bus.stream(since=mark):  # pragma: no branch
                if event is CLOSE_WATCH:
                    return
                if _version_of(event) <= seen:
                    continue  # already replayed from the history
                view = self._watch_view(request, selector, event)
                if view is not None:
                    yield view
        finally:
            await bus.unmark(mark)

    def _watch_view(self, request: rendering.Request, selector: str | None, event: dict) -> dict | None:
        """The event as this watch sees it: in its namespace and label selection, or not at all."""
        meta = event.get("object", {}).get("metadata", {})
        if not self._KubernetesEmulator__check(request, request.resource, meta.get("namespace"),
                                                meta.get("name"), strict=False):
            return None
        old = event.get("_old")
        event = {k: v for k, v in event.items() if k != "_old"}
        now_in = selector_matches(selector, _labels(event["object"]))
        was_in = now_in if old is None else selector_matches(selector, _labels(old))
        if event["type"] == "MODIFIED" and was_in != now_in:
            return {**event, "type": "ADDED" if now_in else "DELETED"}
        if not now_in and not (event["type"] == "DELETED" and was_in):
            return None
        return event

    # -- the write path ------------------------------------------------------------------------------

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        self.requests_total += 1
        if time.monotonic() < self.outage_until and request.headers.get("User-Agent") != TEST_CLIENT:
            return _failure_response(_Failure(503, "ServiceUnavailable", "the API server is unreachable (outage)"))
        if self.request_log_limit is not None and len(self._requests) > 2 * self.request_log_limit:
            del self._requests[: -self.request_log_limit]
        if request.resource is not None and request.subresource == "scale":
            return await self._handle_scale(request)
        if request.resource is not None and request.subresource == "binding":
            return await self._handle_binding(request)
        if request.resource is None or request.action not in WRITES:
            return await super()._handle(request)
        self.writes.append((str(request.method.value).upper(), request.url.path, time.monotonic()))
        try:
            self._inject_fault(request)
            async with self._lock:
                self._pending_event = None
                status, body = self._write(request)
                if self._pending_event is not None:  # published under the lock: see _serve_watch
                    await self._publish(request.resource, self._pending_event)
            return aiohttp.web.json_response(body, status=status)
        except _Failure as failure:
            return _failure_response(failure)

    async def _publish(self, resource: Any, event: dict) -> None:
        """One write's watch event: into the history watches resume from, and to every open watch."""
        if self.mute_events:
            return
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0][0] + 1
        self._history.append((_version_of(event), resource, event))
        await self._buses[resource].put(event)

    def _inject_fault(self, request: rendering.Request) -> None:
        method = str(request.method.value).upper()
        for fault in self.faults:
            if fault.method == method and fault.path.search(request.url.path):
                self.faults.remove(fault)
                reason = {409: "Conflict", 422: "Invalid", 429: "TooManyRequests"}.get(fault.status, "InternalError")
                raise _Failure(fault.status, reason, fault.message, fault.retry_after)

    def _write(self, request: rendering.Request) -> tuple[int, dict]:
        resource, namespace, name = request.resource, request.namespace, request.name
        subresource = request.subresource
        has_status = "status" in (self.resources[resource].subresources if resource in self.resources else set())
        data = request.data
        if request.action == enums.action.CREATE:
            meta = data.get("metadata", {})
            name = meta.get("name") or (meta.get("generateName", "") + "".join(
                random.choice(NAME_ALPHABET) for _ in range(5)))
            key = (resource, namespace or meta.get("namespace"), name)
            if key in self._objects and not self._objects[key].deleted:
                raise _Failure(409, "AlreadyExists", f'{resource.plural} "{name}" already exists')
            return 201, self._store(key, self._created(data, name, key[1], has_status))

        key = (resource, namespace, name)
        current = self._objects[key].raw if key in self._objects and not self._objects[key].deleted else None
        if request.action == enums.action.DELETE:
            if current is None:
                raise _Failure(404, "NotFound", f'{resource.plural} "{name}" not found')
            grace = _grace_seconds(resource, current, data, request)
            if grace:
                return 200, self._terminate_gracefully(key, current, grace)
            if current["metadata"].get("finalizers"):
                new = copy.deepcopy(current)
                new["metadata"].setdefault("deletionTimestamp", _now())
                return 200, self._store(key, new)
            return 200, self._remove(key, current)

        # PATCH (and PUT)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if current is None:
            if content_type != APPLY or subresource:
                raise _Failure(404, "NotFound", f'{resource.plural} "{name}" not found')
            return 201, self._store(key, self._created(data, name, namespace, has_status))
        if content_type == JSON_PATCH:
            try:
                new = jsonpatch.apply_patch(copy.deepcopy(current), data)
            except (jsonpatch.JsonPatchTestFailed, jsonpatch.JsonPatchConflict) as err:
                raise _Failure(409, "Conflict", f"the object has been modified: {err}") from None
        elif str(request.method.value).upper() == "PUT":
            new = copy.deepcopy(data)
        else:
            new = dicts.merge_patch_dict(copy.deepcopy(current), data)
            if content_type == APPLY:
                _replace_atomic_maps(new, data)
        wanted_rv = (data.get("metadata") or {}).get("resourceVersion") if isinstance(data, dict) else None
        if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
            raise _Failure(409, "Conflict", "the object has been modified; please apply your changes "
                                            "to the latest version and try again")
        if has_status:
            if subresource == "status":
                new = {**copy.deepcopy(current), "status": new.get("status")}
            else:
                new["status"] = copy.deepcopy(current.get("status"))
                if new["status"] is None:
                    new.pop("status")
        new["metadata"] = {**new["metadata"], **{k: current["metadata"][k] for k in
                                                  ("uid", "creationTimestamp", "generation")
                                                  if k in current["metadata"]}}
        if new == current:
            return 200, current  # a no-op write changes nothing, as on a real server
        if new.get("spec") != current.get("spec"):
            new["metadata"]["generation"] = int(current["metadata"].get("generation") or 1) + 1
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return 200, self._remove(key, new)
        return 200, self._store(key, new)

    def _terminate_gracefully(self, key: tuple, current: dict, grace: int) -> dict:
        """A pod's DELETE: marked, kept for its kubelet to stop it; a shorter grace may follow, never a longer."""
        meta = current["metadata"]
        if meta.get("deletionTimestamp") and int(meta.get("deletionGracePeriodSeconds") or 0) <= grace:
            return current
        new = copy.deepcopy(current)
        new["metadata"].update(deletionTimestamp=_now(grace), deletionGracePeriodSeconds=grace)
        return self._store(key, new)

    def _created(self, data: dict, name: str, namespace: str | None, has_status: bool) -> dict:
        obj = copy.deepcopy(data)
        if has_status:
            obj.pop("status", None)
        meta = obj.setdefault("metadata", {})
        meta.pop("generateName", None)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        if namespace:
            meta["namespace"] = namespace
        spec = obj.get("spec")
        if obj.get("kind") == "Service" and self.service_ips is not None and isinstance(spec, dict) \
                and spec.get("type", "ClusterIP") != "ExternalName" and not spec.get("clusterIP"):
            spec["clusterIP"] = self.service_ips()
            spec["clusterIPs"] = [spec["clusterIP"]]
        return obj

    def _store(self, key: tuple, obj: dict) -> dict:
        obj["metadata"]["resourceVersion"] = self._next_version()
        existed = key in self._objects and not self._objects[key].deleted
        old = copy.deepcopy(self._objects[key].raw) if existed else None
        if key in self._objects:
            del self._objects[key]  # no history: memory stays flat however many writes
        self._objects[key] = obj
        # The old object travels with the event for label-selector watches; they strip it.
        self._pending_event = {"type": "MODIFIED" if existed else "ADDED", "object": copy.deepcopy(obj), "_old": old}
        return obj

    def _next_version(self) -> str:
        self._last_version = next(self._counter)
        return str(self._last_version)

    def _remove(self, key: tuple, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_version()
        del self._objects[key]
        self._pending_event = {"type": "DELETED", "object": copy.deepcopy(obj)}
        return obj


    # -- the scale subresource ------------------------------------------------------------------------

    async def _handle_scale(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """autoscaling/v1 Scale over .spec.replicas, .status.replicas and the selector, as the API server maps it."""
        method = str(request.method.value).upper()
        key = (request.resource, request.namespace, request.name)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if method not in ("GET", "PATCH", "PUT") or (method == "PATCH" and content_type not in SCALE_PATCH):
            return _status(405 if method not in ("GET", "PATCH", "PUT") else 415, "MethodNotSupported",
                           f"{method} {content_type} is not served on the scale subresource")
        if method != "GET":
            self.writes.append((method, request.url.path, time.monotonic()))
        async with self._lock:
            current = self._objects[key].raw if key in self._objects and not self._objects[key].deleted else None
            if current is None:
                return _status(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
            if method == "GET":
                return aiohttp.web.json_response(_scale_of(current))
            wanted = request.data if method == "PUT" else dicts.merge_patch_dict(_scale_of(current), request.data)
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                return _status(422, "Invalid", f"spec.replicas: Invalid value: {replicas!r}: must be a non-negative integer")
            new = copy.deepcopy(current)
            new["spec"]["replicas"] = replicas
            if new != current:
                new["metadata"]["generation"] = int(current["metadata"].get("generation") or 1) + 1
                current = self._store(key, new)
                await self._publish(request.resource, self._pending_event)
            return aiohttp.web.json_response(_scale_of(current))

    # -- pods/binding: how a scheduler assigns a node ---------------------------------------------------

    async def _handle_binding(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """POST a Binding: spec.nodeName and the PodScheduled condition set at once, as the API server does."""
        key = (request.resource, request.namespace, request.name)
        self.writes.append(("POST", request.url.path, time.monotonic()))
        node = ((request.data or {}).get("target") or {}).get("name")
        async with self._lock:
            current = self._objects[key].raw if key in self._objects and not self._objects[key].deleted else None
            if current is None:
                return _status(404, "NotFound", f'pods "{request.name}" not found')
            if (current.get("spec") or {}).get("nodeName"):
                return _status(409, "Conflict", f'pod {request.name} is already assigned to node '
                                                f'"{current["spec"]["nodeName"]}"')
            new = copy.deepcopy(current)
            new["spec"]["nodeName"] = node
            status = new.setdefault("status", {})
            status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"] + [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()}]
            self._store(key, new)
            await self._publish(request.resource, self._pending_event)
        return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201},
                                         status=201)

def _scale_of(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = status.get("selector") or ",".join(
        f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items())
    meta = obj["metadata"]
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": int(spec.get("replicas") or 0)},
            "status": {"replicas": int(status.get("replicas") or 0), "selector": selector}}


def _grace_seconds(resource: Any, current: dict, options: Any, request: rendering.Request) -> int:
    """The grace period of a pod's deletion; 0 (delete now) for other objects and for unbound pods."""
    if (resource.group, resource.plural) != ("", "pods") or not (current.get("spec") or {}).get("nodeName"):
        return 0
    asked = (options or {}).get("gracePeriodSeconds") if isinstance(options, dict) else None
    if asked is None:
        asked = request.params.get("gracePeriodSeconds")
    if asked is None:
        asked = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    return max(int(asked), 0)


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                                      "code": code, "reason": reason, "message": message}, status=code)


def _now(plus_seconds: float = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=plus_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _replace_atomic_maps(new: dict, applied: dict) -> None:
    """Server-side apply takes over maps the schema marks atomic whole, other managers' keys included."""
    for path in (("spec", "selector"), ("spec", "selector", "matchLabels"), ("spec", "podSelector", "matchLabels")):
        source, target = applied, new
        for part in path[:-1]:
            source, target = (source or {}).get(part), (target or {}).get(part)
        if isinstance(source, dict) and isinstance(target, dict) and isinstance(source.get(path[-1]), dict) \
                and all(isinstance(v, str) for v in source[path[-1]].values()):
            target[path[-1]] = copy.deepcopy(source[path[-1]])




class LiveApiServer:
    """An `ApiServer` on a loopback port, on its own event loop thread, driven from sync tests."""

    def __init__(self, cls: type[ApiServer] = ApiServer, **kwargs: Any):
        self._cls, self._kwargs = cls, kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="apiserver", daemon=True)
        self.server: ApiServer
        self.url = ""

    def __enter__(self) -> LiveApiServer:
        self._thread.start()
        self._stack = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self._http = urllib3.PoolManager(maxsize=4)
        return self

    async def _start(self) -> contextlib.AsyncExitStack:
        stack = contextlib.AsyncExitStack()
        self.server = await stack.enter_async_context(self._cls(**self._kwargs))
        http = await stack.enter_async_context(apps.Server(self.server))
        self.url = str(http.url).rstrip("/")
        return stack

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            try:
                await self._stack.aclose()
            except Exception:  # noqa: BLE001 - kmock re-raises what clients did wrong; not ours to judge here
                pass
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def on_loop(self, fn: Any, *args: Any) -> Any:
        """Run fn(*args) on the server's loop (its state is not thread-safe) and return the result."""
        async def call() -> Any:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def kubeconfig(self, path: str) -> str:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator"}}],
        }
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    # -- what a user or a controller would do, over HTTP ---------------------------------------------

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> tuple[int, Any]:
        response = self._http.request(
            method, self.url + path, body=None if body is None else json.dumps(body),
            headers={"Content-Type": content_type, "User-Agent": TEST_CLIENT}, timeout=10, retries=False,
        )
        data = response.data
        return response.status, (json.loads(data) if data else None)

    def get(self, path: str) -> dict | None:
        status, body = self.request("GET", path)
        return body if status == 200 else None

    def items(self, path: str) -> list[dict]:
        status, body = self.request("GET", path)
        assert status == 200, body
        return body["items"]

    # -- what the test observes ----------------------------------------------------------------------

    def write_log(self) -> list[tuple[str, str, float]]:
        return self.on_loop(lambda: list(self.server.writes))

    def operator_requests(self) -> list[tuple[str, str, dict]]:
        """(method, path, query) of every request not made by the test itself (kopf's and the client's)."""
        return self.on_loop(lambda: [
            (str(r.method.value).upper(), r.url.path, dict(r.params)) for r in self.server._requests
            if not r.headers.get("User-Agent", "").startswith(TEST_CLIENT)
        ])

    def fail(self, method: str, path: str, status: int, message: str = "injected", times: int = 1,
             retry_after: float | None = None) -> None:
        self.on_loop(self.server.fail, method, path, status, message, times, retry_after)

    def outage(self, seconds: float) -> None:
        asyncio.run_coroutine_threadsafe(self.server.outage(seconds), self._loop).result(10)

    def unseen(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> tuple[int, Any]:
        """A write that no watch reports: what a client misses while its watch is down."""
        self.on_loop(setattr, self.server, "mute_events", True)
        try:
            return self.request(method, path, body, content_type)
        finally:
            self.on_loop(setattr, self.server, "mute_events", False)
