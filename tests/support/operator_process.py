"""The real operator (`modeldeploy operator`) as a subprocess against an `ApiServer`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from .apiserver import LiveApiServer

MD_PATH = "/apis/serving.modeldeploy.io/v1alpha1/namespaces/{ns}/modeldeployments"


def writes_in(metrics_text: str) -> float:
    """All API writes an operator reports on /metrics (modeldeploy_api_writes_total, every label)."""
    return sum(float(v) for v in re.findall(r"^modeldeploy_api_writes_total\{[^}]*\} (\S+)$", metrics_text, re.M))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


class OperatorProcess:
    def __init__(self, api: LiveApiServer, *, resync_seconds: float = 1.0, extra: tuple[str, ...] = (),
                 standalone: bool = True):
        self.api = api
        self.resync_seconds = resync_seconds
        self.extra = extra
        self.standalone = standalone
        self._dir = tempfile.TemporaryDirectory(prefix="modeldeploy-op-")
        self.kubeconfig = api.kubeconfig(os.path.join(self._dir.name, "kubeconfig"))
        self.log_path = os.path.join(self._dir.name, "operator.log")
        self.proc: subprocess.Popen | None = None
        self.metrics_port = self.health_port = 0

    def start(self, wait_ready: bool = True) -> OperatorProcess:
        self.metrics_port, self.health_port = free_port(), free_port()
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "PYTHONUNBUFFERED": "1"}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modeldeploy.cli", "operator", "--all-namespaces",
             *(["--standalone"] if self.standalone else []),
             "--resync-seconds", str(self.resync_seconds), "--bind-address", "127.0.0.1",
             "--metrics-port", str(self.metrics_port), "--health-port", str(self.health_port), *self.extra],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        if wait_ready:
            wait_for(lambda: self.http("/readyz")[0] == 200, timeout=30, what="operator /readyz")
        return self

    def http(self, path: str, port: int | None = None) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.health_port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> str:
        return self.http("/metrics", self.metrics_port)[1]

    def logs(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()
        return self.proc.returncode if self.proc else None

    def close(self) -> None:
        self.kill()  # graceful stop is tested on its own; teardown needs speed
        self.stop()
        self._dir.cleanup()
