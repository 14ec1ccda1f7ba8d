"""Throughput and latency of a packaged torch model, side by side in one run.

  (1) Triton with the generated config (dynamic batching on), python backend
  (2) the same Triton with dynamic batching off
  (3) a naive Flask + torch server (model loaded once, one request at a time)

at client concurrency 1, 8 and 32, all over HTTP with the same KServe v2 JSON
body, from an aiohttp client on loopback. Also: time to ready, from start to
the first successful inference. Ratios matter; absolute numbers drift.

    python benchmarks/serving_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import torch

from modeldeploy.api import parse_model_deployment
from modeldeploy_runtime.package import package_module
from modeldeploy_runtime.serve import ServeOptions, serving
from modeldeploy_runtime.triton_process import free_port
from progress import step

HERE = Path(__file__).resolve().parent
SPEC = {
    "apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment",
    "metadata": {"name": "mlp"},
    "spec": {"model": {"name": "mlp", "uri": "file:mlp", "version": "1", "format": "python", "config": {
        "maxBatchSize": 64,
        "inputs": [{"name": "INPUT__0", "dataType": "FP32", "dims": [256]}],
        "outputs": [{"name": "OUTPUT__0", "dataType": "FP32", "dims": [10]}],
        "dynamicBatching": {"maxQueueDelayMicroseconds": 0},
        "instanceGroups": [{"kind": "CPU", "count": 1}]}}},
}


def body() -> dict:
    x = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
    return {"inputs": [{"name": "INPUT__0", "shape": [1, 256], "datatype": "FP32", "data": x.flatten().tolist()}]}


async def load(url: str, concurrency: int, seconds: float) -> dict:
    payload = body()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.post(url, json=payload) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - start) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": statistics.median(latencies),
            "p99": latencies[int(len(latencies) * 0.99) - 1], "errors": errors}


def measure(url: str, concurrencies: list[int], seconds: float) -> dict[int, dict]:
    asyncio.run(load(url, 4, 0.5))  # warm-up
    results = {}
    for c in concurrencies:
        step(f"  concurrency {c}: {seconds:.0f} s of load")
        results[c] = asyncio.run(load(url, c, seconds))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 s per point instead of 10 s")
    parser.add_argument("--queue-delay-us", type=int, default=0,
                        help="dynamic batching's maxQueueDelayMicroseconds (0: batch whatever queued while busy)")
    args = parser.parse_args()
    SPEC["spec"]["model"]["config"]["dynamicBatching"]["maxQueueDelayMicroseconds"] = args.queue_delay_us
    seconds = 2.0 if args.quick else 10.0
    concurrencies = [1, 8, 32]
    work = Path(tempfile.mkdtemp(prefix="md-bench-"))
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                              torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    step(f"packaging the MLP into {work}")
    package_module(mlp, [torch.randn(1, 256)], work / "mlp")
    results: dict[str, dict[int, dict]] = {}
    ready: dict[str, float] = {}
    for label, batching in (("triton-batching", True), ("triton-no-batching", False)):
        spec = copy.deepcopy(SPEC)
        if not batching:
            del spec["spec"]["model"]["config"]["dynamicBatching"]
        md = parse_model_deployment(spec)
        step(f"{label}: starting Triton")
        start = time.perf_counter()
        with serving(md, work, ServeOptions(workdir=work / label)) as server:
            url = f"http://{server.http_url}/v2/models/mlp/versions/1/infer"
            asyncio.run(load(url, 1, 0.01))
            ready[label] = time.perf_counter() - start
            results[label] = measure(url, concurrencies, seconds)
    port = free_port()
    step("naive-flask: starting the baseline server")
    start = time.perf_counter()
    naive = subprocess.Popen([sys.executable, str(HERE / "naive_server.py"), str(work / "mlp" / "model.pt"), str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v2/models/mlp/infer"
        while True:
            try:
                asyncio.run(load(url, 1, 0.01))
                break
            except aiohttp.ClientError:
                time.sleep(0.05)
        ready["naive-flask"] = time.perf_counter() - start
        results["naive-flask"] = measure(url, concurrencies, seconds)
    finally:
        naive.terminate()
        naive.wait()
    print(f"dynamic batching maxQueueDelayMicroseconds={args.queue_delay_us}, {seconds:.0f}s per point")
    print(f"{'server':20} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for label, by_conc in results.items():
        for c, r in by_conc.items():
            print(f"{label:20} {c:>4} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:>6}")
    base = results["naive-flask"]
    best = results["triton-batching"]
    print(f"\nthroughput ratio at 32 (batching / naive): {best[32]['rps'] / base[32]['rps']:.2f}x  (target >= 4x)")
    print(f"p99 at 32: {best[32]['p99']:.1f} ms vs naive {base[32]['p99']:.1f} ms  (target: no worse)")
    print(f"p50 ratio at 1 (batching / naive): {best[1]['p50'] / base[1]['p50']:.2f}x  (target <= 1.5x)")
    print("time to ready: " + ", ".join(f"{k} {v:.1f}s" for k, v in ready.items()) + "  (target <= 15 s)")


if __name__ == "__main__":
    main()
