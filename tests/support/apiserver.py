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
  always applies whole objects);
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
  injectable faults (e.g. one 500, or a 422 with a message).
It still does no garbage collection, label-selector filtering, defaulting or
schema validation; tests that depend on those say so (the loopback harness in
support/cluster adds garbage collection as a controller, as a cluster does).
"""

from __future__ import annotations

import asyncio
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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
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
    "gateway.networking.k8s.io/v1/httproutes": {"kind": "HTTPRoute", "namespaced": True,
                                                "subresources": {"status"}},
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


class _Failure(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


@attrs.define(kw_only=True)
class ApiServer(k8s.KubernetesEmulator):
    writes: list[tuple[str, str, float]] = attrs.field(factory=list, init=False)  # method, path, monotonic time
    requests_total: int = attrs.field(default=0, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    _counter: Iterator[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    # Keep this many requests in kmock's log (None: all). Benchmarks bound it; it grows without limit.
    request_log_limit: int | None = None
    _pending_event: dict | None = attrs.field(default=None, init=False)
    # Gives each new Service its spec.clusterIP (a callable returning an address); None: leave it unset.
    service_ips: Callable[[], str] | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for name, info in RESOURCES.items():
            self.resources[name] = kmock.ResourceInfo(verbs=VERBS, **info)

    # -- helpers for tests (call through `LiveApiServer`, which runs them on the server's loop) ----------

    def fail(self, method: str, path: str, status: int, message: str = "injected", times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(Fault(method.upper(), re.compile(path), status, message))

    # -- the write path ------------------------------------------------------------------------------

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        self.requests_total += 1
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
                    await self._buses[request.resource].put(self._pending_event)
            return aiohttp.web.json_response(body, status=status)
        except _Failure as failure:
            return _status(failure.status, failure.reason, failure.message)

    def _inject_fault(self, request: rendering.Request) -> None:
        method = str(request.method.value).upper()
        for fault in self.faults:
            if fault.method == method and fault.path.search(request.url.path):
                self.faults.remove(fault)
                reason = {409: "Conflict", 422: "Invalid", 429: "TooManyRequests"}.get(fault.status, "InternalError")
                raise _Failure(fault.status, reason, fault.message)

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
        obj["metadata"]["resourceVersion"] = str(next(self._counter))
        existed = key in self._objects and not self._objects[key].deleted
        if key in self._objects:
            del self._objects[key]  # no history: memory stays flat however many writes
        self._objects[key] = obj
        self._pending_event = {"type": "MODIFIED" if existed else "ADDED", "object": copy.deepcopy(obj)}
        return obj

    def _remove(self, key: tuple, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(next(self._counter))
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
                await self._buses[request.resource].put(self._pending_event)
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
            await self._buses[request.resource].put(self._pending_event)
        return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201},
                                         status=201)

    # -- watches --------------------------------------------------------------------------------------

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[Any]:
        """kmock's watch, with the list and the bus subscription taken under one lock (writes publish under it)."""
        yield b""
        bus = self._buses[request.resource]
        async with self._lock:
            events = [{"type": "ADDED", "object": obj.raw}
                      for obj in self._KubernetesEmulator__get_objs(request, strict=False) if not obj.deleted]
            mark = await bus.mark()
        try:
            for event in events:
                yield event
            async for event in bus.stream(since=mark):
                meta = event.get("object", {}).get("metadata", {})
                if request.namespace is None or meta.get("namespace") == request.namespace:
                    yield event
        finally:
            await bus.unmark(mark)


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

    def fail(self, method: str, path: str, status: int, message: str = "injected", times: int = 1) -> None:
        self.on_loop(self.server.fail, method, path, status, message, times)
