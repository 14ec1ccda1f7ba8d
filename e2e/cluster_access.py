"""Raw JSON access to the cluster of KUBECONFIG, shaped like the emulator helper of tests/."""

from __future__ import annotations

import json
import time

from kubernetes import client, config

MERGE = "application/merge-patch+json"


class Cluster:
    def __init__(self) -> None:
        config.load_kube_config()
        self.api = client.ApiClient()

    def request(self, method: str, path: str, body=None, content_type: str = "application/json"):
        _, url, headers, _, _ = self.api.param_serialize(
            method=method, resource_path=path, auth_settings=["BearerToken"],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
        )
        response = self.api.call_api(method, url, header_params=headers, body=body)
        data = response.read()
        return response.status, (json.loads(data) if data else None)

    def text(self, path: str) -> str:
        """A GET whose answer is text, not JSON (a pod's /metrics through the API server's pod proxy)."""
        _, url, headers, _, _ = self.api.param_serialize(
            method="GET", resource_path=path, auth_settings=["BearerToken"], header_params={"Accept": "*/*"})
        response = self.api.call_api("GET", url, header_params=headers, _request_timeout=5)
        data = response.read().decode(errors="replace")
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {data[:200]}")
        return data

    def get(self, path: str):
        status, body = self.request("GET", path)
        return body if status == 200 else None

    def create(self, path: str, body: dict) -> dict:
        status, created = self.request("POST", path, body)
        assert status == 201, created
        return created

    def logs(self, namespace: str, pod: str, container: str | None = None) -> str:
        return client.CoreV1Api(self.api).read_namespaced_pod_log(pod, namespace, container=container)


def wait_for(check, timeout=60.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
