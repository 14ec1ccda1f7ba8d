"""A bounded continuous-load client: real inferences (tritonclient HTTP or gRPC) from a few threads.

It counts successes, failures (with their first messages), answers that do
not match the expected output, and successes per model_version (the
response's model_version says which revision answered). Each thread opens a
new connection every `requests_per_connection` requests, so load spreads over
the pods behind a Service the way many clients spread over kube-proxy, and a
pod that leaves is left by its clients within a few requests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Check = Callable[[dict[str, np.ndarray]], bool]


@dataclass
class LoadReport:
    successes: int = 0
    failures: int = 0
    wrong: int = 0  # answered, but not what the model computes
    by_version: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


class LoadClient:
    def __init__(self, address: str, model: str, inputs: dict[str, np.ndarray], outputs: list[str], *,
                 protocol: str = "http", concurrency: int = 2, requests_per_connection: int = 10,
                 check: Check | None = None, timeout: float = 10.0, pause: float = 0.0):
        if not address.startswith("127."):
            raise ValueError("the load client sends to loopback addresses only")
        self.address, self.model, self.inputs, self.outputs = address, model, inputs, outputs
        self.protocol, self.concurrency, self.per_connection = protocol, concurrency, requests_per_connection
        self.check, self.timeout, self.pause = check, timeout, pause
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._worker, name=f"load {i}", daemon=True)
                         for i in range(concurrency)]
        self._started = 0.0

    def __enter__(self) -> LoadClient:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadReport:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.report.seconds = time.monotonic() - self._started
        return self.report

    def wait_for(self, successes: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.report.successes < successes:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.report.successes} successful inferences after {timeout}s: "
                                     f"{self.report.errors[:3]}")
            time.sleep(0.05)

    def _worker(self) -> None:
        client = None
        sent = 0
        while not self._stop.is_set():
            if client is None or sent % self.per_connection == 0:
                if client is not None:
                    client.close()
                client = self._client()
            sent += 1
            try:
                version, outputs = self._infer(client)
            except Exception as err:  # noqa: BLE001 - every failure counts, whatever raised it
                with self._lock:
                    self.report.failures += 1
                    if len(self.report.errors) < 20:
                        self.report.errors.append(f"{type(err).__name__}: {err}"[:300])
                client.close()
                client = None
                continue
            with self._lock:
                self.report.successes += 1
                self.report.by_version[version] += 1
                if self.check is not None and not self.check(outputs):
                    self.report.wrong += 1
            if self.pause:
                self._stop.wait(self.pause)
        if client is not None:
            client.close()

    def _client(self):
        if self.protocol == "grpc":
            import tritonclient.grpc as grpcclient  # noqa: PLC0415 - one protocol's client only
            return grpcclient.InferenceServerClient(self.address)
        import tritonclient.http as httpclient  # noqa: PLC0415
        return httpclient.InferenceServerClient(self.address, connection_timeout=self.timeout,
                                                network_timeout=self.timeout)

    def _infer(self, client) -> tuple[str, dict[str, np.ndarray]]:
        return infer(client, self.protocol, self.model, self.inputs, self.outputs, self.timeout)


def infer(client, protocol: str, model: str, inputs: dict[str, np.ndarray], outputs: list[str],
          timeout: float = 10.0) -> tuple[str, dict[str, np.ndarray]]:
    """One inference; the answering model_version and the outputs."""
    if protocol == "grpc":
        import tritonclient.grpc as module  # noqa: PLC0415
    else:
        import tritonclient.http as module  # type: ignore[no-redef]  # noqa: PLC0415
    wire = []
    for name, array in inputs.items():
        tensor = module.InferInput(name, list(array.shape), _triton_type(array))
        tensor.set_data_from_numpy(array)
        wire.append(tensor)
    wanted = [module.InferRequestedOutput(name) for name in outputs]
    kwargs = {"client_timeout": timeout} if protocol == "grpc" else {}
    result = client.infer(model, wire, outputs=wanted, **kwargs)
    response = result.get_response()
    version = response.model_version if protocol == "grpc" else response["model_version"]
    return str(version), {name: result.as_numpy(name) for name in outputs}


def _triton_type(array: np.ndarray) -> str:
    from tritonclient.utils import np_to_triton_dtype  # noqa: PLC0415
    return np_to_triton_dtype(array.dtype)
