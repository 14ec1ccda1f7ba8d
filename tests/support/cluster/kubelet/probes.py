"""Startup, liveness and readiness probes, run as the kubelet's prober workers run them.

Each probe runs every periodSeconds after initialDelaySeconds, with its own
timeout; its result flips after successThreshold successes or
failureThreshold failures in a row. Liveness and readiness wait for the
startup probe to pass; readiness is probed at once when startup passes (the
kubelet triggers it). httpGet (port by name or number, path, headers; 2xx and
3xx pass), tcpSocket and exec are supported; grpc probes fail as unsupported.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[], bool]


def port_number(port: int | str, container: dict) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"port {port!r} is not declared by container {container['name']}")


def http_get(action: dict, host: str, container: dict, timeout: float) -> bool:
    connection = http.client.HTTPConnection(action.get("host") or host, port_number(action["port"], container),
                                            timeout=timeout)
    try:
        headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
        connection.request("GET", action.get("path", "/"), headers={"User-Agent": "kube-probe/1.35", **headers})
        return 200 <= connection.getresponse().status < 400
    except OSError:
        return False
    finally:
        connection.close()


def tcp_socket(action: dict, host: str, container: dict, timeout: float) -> bool:
    try:
        with socket.create_connection((action.get("host") or host, port_number(action["port"], container)), timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ProbeSpec:
    kind: str  # startup | liveness | readiness
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, kind: str, probe: dict) -> ProbeSpec:
        return cls(kind, probe.get("initialDelaySeconds", 0), probe.get("periodSeconds", 10),
                   probe.get("timeoutSeconds", 1), probe.get("successThreshold", 1), probe.get("failureThreshold", 3))


def probe_check(probe: dict, host: str, container: dict, run_exec: Callable[[list[str], float], int]) -> Check:
    timeout = probe.get("timeoutSeconds", 1)
    if "httpGet" in probe:
        return lambda: http_get(probe["httpGet"], host, container, timeout)
    if "tcpSocket" in probe:
        return lambda: tcp_socket(probe["tcpSocket"], host, container, timeout)
    if "exec" in probe:
        return lambda: run_exec(probe["exec"]["command"], timeout) == 0
    return lambda: False  # grpc: not supported here


class Prober:
    """One probe of one running container; reports its result whenever it flips."""

    def __init__(self, spec: ProbeSpec, check: Check, on_result: Callable[[bool], None],
                 gate: Callable[[], bool] = lambda: True):
        self.spec = spec
        self._check, self._on_result, self._gate = check, on_result, gate
        # Until proven: readiness and startup fail, liveness passes (the kubelet's initial results).
        self.result = spec.kind == "liveness"
        self._streak = 0
        self._stop = threading.Event()
        self._trigger = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"probe {spec.kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def trigger(self) -> None:
        self._trigger.set()

    def stop(self) -> None:
        self._stop.set()
        self._trigger.set()

    def _run(self) -> None:
        if self._stop.wait(self.spec.initial_delay):
            return
        while not self._stop.is_set():
            if self._gate():
                self._record(self._check())
                if self.spec.kind == "startup" and self.result:
                    return  # a passed startup probe is not run again
            self._trigger.wait(self.spec.period)
            self._trigger.clear()

    def _record(self, ok: bool) -> None:
        if self._stop.is_set():
            return
        if ok == self.result:
            self._streak = 0
            return
        self._streak += 1
        if self._streak >= (self.spec.success_threshold if ok else self.spec.failure_threshold):
            self.result, self._streak = ok, 0
            self._on_result(ok)
