"""A thin, typed wrapper over the official client's transport.

It speaks raw JSON (no generated model objects: cheaper, and what the builders
produce already), refuses verbs that its permission table does not declare
(the operator's `PERMISSIONS` unless told otherwise), turns failures into the
classes of `errors`, and reports every write to an observer (the operator's
metrics). It blocks: call it from a thread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from urllib.parse import urlsplit

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from .errors import ApiError, Retryable, classify, retry_after_seconds
from .permissions import EVENT, MODELDEPLOYMENT, PERMISSIONS, POD, Kind, Permission, allowed, kind_of

FIELD_MANAGER = "modeldeploy"
AUTOSCALER_FIELD_MANAGER = "modeldeploy-autoscaler"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
TIMEOUT_SECONDS = (5, 30)  # connect, read
LIST_PAGE = 500

WriteObserver = Callable[[str, str], None]  # (verb, kind)
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class NoClusterConfig(RuntimeError):
    """Neither in a pod nor given a usable kubeconfig: there is no cluster to talk to."""

    def __init__(self, reason: str):
        kubeconfig = os.environ.get("KUBECONFIG") or "~/.kube/config"
        self.reason = f"{kubeconfig} is not a usable kubeconfig ({reason})"
        super().__init__(f"no cluster to talk to: not running in a pod, and {kubeconfig} is not a usable "
                         f"kubeconfig ({reason}); point KUBECONFIG at your cluster's kubeconfig, or install "
                         "the operator in the cluster (docs/install.md)")


def unreachable_words(err: Exception) -> str:
    """What a transport failure (a Retryable of status 0) says, in words: connection refused, timed out, ..."""
    text = str(err)
    for needle, words in (("refused", "connection refused"), ("Connect call failed", "connection refused"),
                          ("timed out", "timed out"), ("DNS", "unknown host"),
                          ("Timeout", "timed out"), ("NameResolution", "unknown host"),
                          ("Name or service not known", "unknown host"), ("CERTIFICATE_VERIFY_FAILED",
                                                                           "TLS verification failed"),
                          ("SSLError", "TLS failed")):
        if needle in text:
            return words
    return text.split(":", 1)[0] or type(err).__name__


def configured_server() -> str:
    """HOST:PORT of the API server the operator talks to (in-cluster, else the kubeconfig's); '' if none."""
    try:
        host = _configuration().host
    except NoClusterConfig:
        return ""
    return urlsplit(host).netloc or host


def _configuration() -> k8s.Configuration:
    """In-cluster credentials when running in a pod, else KUBECONFIG / ~/.kube/config."""
    configuration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
    except ConfigException:
        try:
            k8s_config.load_kube_config(client_configuration=configuration)
        except Exception as err:  # noqa: BLE001 - any failure here means: no usable kubeconfig
            raise NoClusterConfig(str(err).strip() or type(err).__name__) from None
    return configuration


class KubeClient:
    def __init__(self, api: k8s.ApiClient, *, on_write: WriteObserver | None = None,
                 permissions: tuple[Permission, ...] = PERMISSIONS):
        self._api = api
        self._on_write = on_write or (lambda verb, kind: None)
        self._permissions = permissions

    @classmethod
    def from_environment(cls, *, on_write: WriteObserver | None = None,
                         permissions: tuple[Permission, ...] = PERMISSIONS,
                         user_agent: str | None = None) -> KubeClient:
        """In-cluster credentials when running in a pod, else KUBECONFIG / ~/.kube/config."""
        api = k8s.ApiClient(_configuration())
        if user_agent:
            api.user_agent = user_agent  # what audit logs and the API server's metrics name the caller by
        return cls(api, on_write=on_write, permissions=permissions)

    # -- writes ---------------------------------------------------------------------------------------

    def apply(self, obj: dict, *, field_manager: str = FIELD_MANAGER) -> dict:
        """Server-side apply with a fixed field manager; creates the object when missing."""
        kind = kind_of(obj)
        meta = obj["metadata"]
        return self._request(
            "patch", kind, "PATCH", kind.path(meta.get("namespace"), meta["name"]),
            query={"fieldManager": field_manager, "force": "true"}, body=obj, content_type=APPLY,
        )

    def delete(self, kind: Kind, namespace: str | None, name: str) -> None:
        self._request("delete", kind, "DELETE", kind.path(namespace, name),
                      body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})

    def patch(self, kind: Kind, namespace: str | None, name: str, body: Any, *, field_manager: str,
              content_type: str = MERGE) -> dict:
        """A merge patch (or a JSON patch, whose `test` ops guard against a concurrent writer) of an object."""
        return self._request("patch", kind, "PATCH", kind.path(namespace, name),
                             query={"fieldManager": field_manager}, body=body, content_type=content_type)

    def patch_status(self, namespace: str, name: str, patch: dict) -> dict:
        """Merge-patch the ModelDeployment's status subresource (the only status write)."""
        return self._request(
            "patch", MODELDEPLOYMENT, "PATCH", MODELDEPLOYMENT.path(namespace, name, "status"),
            query={"fieldManager": FIELD_MANAGER}, body={"status": patch}, content_type=MERGE, subresource="status",
        )

    def create(self, obj: dict) -> dict:
        kind = kind_of(obj)
        return self._request("create", kind, "POST", kind.path(obj["metadata"].get("namespace")), body=obj)

    def patch_scale(self, namespace: str, name: str, replicas: int) -> dict:
        """Set a ModelDeployment's spec.replicas through its scale subresource, as HPA, KEDA and kubectl do."""
        return self._request(
            "patch", MODELDEPLOYMENT, "PATCH", MODELDEPLOYMENT.path(namespace, name, "scale"),
            query={"fieldManager": AUTOSCALER_FIELD_MANAGER}, body={"spec": {"replicas": replicas}},
            content_type=MERGE, subresource="scale",
        )

    def patch_pod_status(self, namespace: str, name: str, json_patch: list[dict]) -> dict:
        """A JSON patch of a pod's status: the smoke gate's readiness condition, guarded by a `test` op."""
        return self._request("patch", POD, "PATCH", POD.path(namespace, name, "status"), body=json_patch,
                             content_type=JSON_PATCH, subresource="status")

    def create_event(self, event: dict) -> dict:
        return self._request("create", EVENT, "POST", EVENT.path(event["metadata"]["namespace"]), body=event)

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict:
        return self._request("get", kind, "GET", kind.path(namespace, name))

    def list(self, kind: Kind, namespace: str | None = None, *, limit: int | None = None,
             label_selector: str | None = None, continue_token: str | None = None) -> dict:
        query = {"limit": str(limit)} if limit else {}
        if label_selector:
            query["labelSelector"] = label_selector
        if continue_token:
            query["continue"] = continue_token
        return self._request("list", kind, "GET", kind.path(namespace), query=query)

    def list_all(self, kind: Kind, namespace: str | None = None, *,
                 label_selector: str | None = None) -> tuple[list[dict], str | None]:
        """Every object of a kind, page by page; and the resourceVersion the list was read at."""
        items: list[dict] = []
        version = None
        for page, at in self.list_pages(kind, namespace, label_selector=label_selector):
            items += page
            version = version or at
        return items, version

    def list_pages(self, kind: Kind, namespace: str | None = None, *,
                   label_selector: str | None = None) -> Iterator[tuple[list[dict], str | None]]:
        """Every object of a kind, one page at a time (a caller that stores each page as it comes never holds
        the whole list: 10,000 Deployments are about a gigabyte as Python objects)."""
        token = None
        while True:
            page = self.list(kind, namespace, limit=LIST_PAGE, label_selector=label_selector, continue_token=token)
            meta = page.get("metadata") or {}
            items = page.get("items") or []
            for item in items:
                # List items come without kind; the cache and the reconciler key objects by it.
                item.setdefault("kind", kind.kind)
                item.setdefault("apiVersion", kind.api_version)
            yield items, meta.get("resourceVersion")
            token = meta.get("continue")
            if not token:
                return

    # -- transport ------------------------------------------------------------------------------------

    def _request(self, verb: str, kind: Kind, method: str, path: str, *, query: dict[str, str] | None = None,
                 body: Any = None, content_type: str = "application/json", subresource: str | None = None) -> dict:
        if not allowed(kind, verb, subresource, self._permissions):
            # A programming error: the declared permissions (and so the RBAC made from them) lack this call.
            raise PermissionError(f"{verb} {kind.plural}{'/' + subresource if subresource else ''} is not declared "
                                  "in modeldeploy.clients.permissions")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, _, _ = self._api.param_serialize(
            method=method, resource_path=path, query_params=list((query or {}).items()),
            header_params=headers, auth_settings=["BearerToken"],
        )
        is_write = method != "GET"
        try:
            response = self._api.call_api(method, url, header_params=headers, body=body,
                                          _request_timeout=TIMEOUT_SECONDS)
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise Retryable(0, f"{type(err).__name__}: {err}", verb=verb, kind=kind.kind) from None
        finally:
            if is_write:
                self._on_write(verb, kind.kind)
        if response.status >= 400:
            raise classify(response.status, _server_message(data), verb=verb, kind=kind.kind,
                           retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        return json.loads(data) if data else {}


def current_namespace() -> str:
    """The namespace kubectl would use: in a pod its own, else the kubeconfig context's, else default."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(SERVICE_ACCOUNT_NAMESPACE):
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip() or "default"
    try:
        _, active = k8s_config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
    except Exception:  # noqa: BLE001 - no usable kubeconfig: connecting says so, with the reason
        return "default"
    return ((active or {}).get("context") or {}).get("namespace") or "default"


def _server_message(data: bytes) -> str:
    """The API server's own words from a Status body, else the raw text."""
    try:
        status = json.loads(data)
    except ValueError:
        return data.decode(errors="replace")[:500]
    if isinstance(status, dict):
        return str(status.get("message") or status.get("reason") or status)[:2000]
    return str(status)[:500]


__all__ = ["APPLY", "FIELD_MANAGER", "JSON_PATCH", "MERGE", "KubeClient", "ApiError", "NoClusterConfig",
           "current_namespace"]
