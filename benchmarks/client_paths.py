"""What one request costs a Python client with tritonclient, per protocol.

A user's client is usually Python. This sends the same batch-1 request one
at a time over HTTP with JSON tensors, HTTP with the binary tensor
extension, and gRPC, and reports the median latency and this process's CPU
time per request (the client's own cost), on the client's core.
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

PATHS = (("HTTP JSON", triton_http, False), ("HTTP binary", triton_http, True), ("gRPC", triton_grpc, True))


@contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def measure_paths(http_url: str, grpc_url: str, model: str, requests: int = 400,
                  cpus: set[int] | None = None) -> list[dict]:
    x = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
    out = []
    with pinned(cpus):
        for label, lib, binary in PATHS:
            client = lib.InferenceServerClient(grpc_url if lib is triton_grpc else http_url)
            tensor = lib.InferInput("INPUT__0", list(x.shape), "FP32")
            outputs = [lib.InferRequestedOutput("OUTPUT__0")]
            if lib is triton_http:
                tensor.set_data_from_numpy(x, binary_data=binary)
                outputs = [triton_http.InferRequestedOutput("OUTPUT__0", binary_data=binary)]
            else:
                tensor.set_data_from_numpy(x)
            for _ in range(20):
                client.infer(model, [tensor], outputs=outputs)
            latencies = []
            cpu = time.process_time()
            for _ in range(requests):
                start = time.perf_counter()
                client.infer(model, [tensor], outputs=outputs).as_numpy("OUTPUT__0")
                latencies.append(time.perf_counter() - start)
            cpu = time.process_time() - cpu
            client.close()
            out.append({"protocol": label, "p50_ms": 1000 * statistics.median(latencies),
                        "client_cpu_us_per_request": 1e6 * cpu / requests})
    return out
