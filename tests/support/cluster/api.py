"""The harness's controllers reach the emulated API server only over HTTP, like kube-controller-manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import urllib3

from modeldeploy.clients.permissions import Kind

from ..apiserver import RESOURCES, TEST_CLIENT

MERGE = "application/merge-patch+json"


def resource_path(resource: str, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """ "apps/v1/deployments" → /apis/apps/v1[/namespaces/NS]/deployments[/NAME[/SUB]]."""
    api_version, _, plural = resource.rpartition("/")
    info = RESOURCES[resource]
    return Kind(api_version, info["kind"], plural, info["namespaced"]).path(namespace, name, subresource)


def resource_of(api_version: str, kind: str) -> str | None:
    """The resource key ("apps/v1/deployments") serving a kind, for owner references."""
    for resource, info in RESOURCES.items():
        if info["kind"] == kind and resource.rpartition("/")[0] == api_version:
            return resource
    return None


class ApiError(Exception):
    def __init__(self, status: int, body: Any):
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Api:
    """JSON over HTTP to the API server, as one named component (its User-Agent)."""

    def __init__(self, url: str, component: str):
        self.url = url
        self._agent = f"{TEST_CLIENT}/{component}"
        # Room for a watch per resource besides requests: watches hold their connection.
        self._http = urllib3.PoolManager(maxsize=32)
        self._streams: list[urllib3.BaseHTTPResponse] = []  # open watches, cut on close()

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                ok: tuple[int, ...] = (200, 201)) -> Any:
        response = self._http.request(method, self.url + path, body=None if body is None else json.dumps(body),
                                      headers={"Content-Type": content_type, "User-Agent": self._agent},
                                      timeout=10, retries=False)
        data = json.loads(response.data) if response.data else None
        if response.status not in ok:
            raise ApiError(response.status, data)
        return data

    def get(self, path: str) -> dict | None:
        """The object, or None when the server says 404."""
        try:
            return self.request("GET", path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(self, resource: str) -> list[dict]:
        return self.request("GET", resource_path(resource))["items"]

    def create(self, resource: str, obj: dict) -> dict:
        return self.request("POST", resource_path(resource, obj["metadata"].get("namespace")), obj)

    def patch(self, resource: str, namespace: str, name: str, patch: dict, subresource: str | None = None) -> dict:
        return self.request("PATCH", resource_path(resource, namespace, name, subresource), patch, MERGE)

    def replace_status(self, resource: str, obj: dict, status: dict) -> dict:
        """Make the status exactly `status`: a merge patch that also clears the fields it no longer has."""
        cleared = {k: None for k in obj.get("status") or {} if k not in status}
        meta = obj["metadata"]
        return self.patch(resource, meta.get("namespace"), meta["name"], {"status": {**cleared, **status}},
                          subresource="status")

    def delete(self, resource: str, namespace: str, name: str, grace_seconds: int | None = None) -> None:
        options: dict = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        self.request("DELETE", resource_path(resource, namespace, name), options, ok=(200, 202, 404))

    def watch(self, resource: str) -> Iterator[dict]:
        """Watch events until the server closes the stream (kmock starts with ADDED for what exists)."""
        response = self._http.request("GET", self.url + resource_path(resource) + "?watch=true",
                                      headers={"User-Agent": self._agent}, preload_content=False, retries=False,
                                      timeout=urllib3.Timeout(connect=5, read=None))
        self._streams.append(response)
        try:
            for line in response:
                if line.strip():
                    yield json.loads(line)
        finally:
            self._streams.remove(response)
            response.release_conn()

    def close(self) -> None:
        for stream in list(self._streams):
            stream.shutdown()
        self._http.clear()
