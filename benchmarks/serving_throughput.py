"""Serving throughput and latency, measured the way Triton's own tools do, in one run.

Servers (same model: a 256→1024→1024→10 MLP packaged with `modeldeploy package`):
  - Triton 2.51, python backend, with the config and flags ModelDeploy generates
  - a naive Flask + torch server (model loaded once, one request at a time)

Clients, all compiled, side by side:
  - wrk, one KServe v2 JSON body over HTTP (every server)
  - perf_analyzer over HTTP with JSON tensors, HTTP with binary tensors, and gRPC (Triton)

at concurrency 1, 8 and 32. Client and server are pinned to separate cores
when the machine has two or more (the client gets the last core). Every row
also shows the client's CPU share, the server's CPU per request, the batch
sizes Triton executed (its statistics API) and the throughput of the same
TorchScript in-process at those batch sizes on the server's cores: the
compute limit, and the row's % of it. Ratios matter; absolute numbers drift.

    python benchmarks/serving_throughput.py [--quick] [--json FILE] [--plot PNG] [--ablation]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import psutil
import torch

from compute_limit import forward_seconds, limit
from modeldeploy.api import parse_model_deployment
from modeldeploy_runtime.measured_run import split_cores
from modeldeploy_runtime.package import package_module
from modeldeploy_runtime.perf_analyzer import LoadResult, find_perf_analyzer, run_perf_analyzer
from modeldeploy_runtime.serve import ServeOptions, serving
from modeldeploy_runtime.triton_process import free_port
from modeldeploy_runtime.triton_statistics import ModelStatistics, read_statistics
from wrk_load import have_wrk, run_wrk

HERE = Path(__file__).resolve().parent
CONCURRENCIES = (1, 8, 32)
DIMS = [256]


@dataclass
class Row:
    server: str
    client: str  # wrk | perf_analyzer
    protocol: str  # HTTP JSON | HTTP binary | gRPC
    concurrency: int
    throughput: float
    p50_ms: float
    p99_ms: float
    client_cpu_share: float  # of one core
    server_cpu_us_per_request: float
    mean_batch: float
    executions_by_batch: dict[int, int] = field(default_factory=dict)
    limit: float = 0.0  # in-process samples/s at the same batch sizes

    @property
    def percent_of_limit(self) -> float:
        return 100 * self.throughput / self.limit if self.limit else 0.0


@dataclass
class TritonVariant:
    """A Triton configuration to measure; the first is what ModelDeploy generates."""

    label: str
    config: dict = field(default_factory=dict)  # merged into spec.model.config
    extra_args: list[str] = field(default_factory=list)


def build_model(work: Path) -> tuple[Path, dict]:
    """The MLP, packaged; returns its folder and the spec.model.config `package` recommends."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                              torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    report = package_module(mlp, [torch.randn(1, 256)], work / "mlp")
    return work / "mlp", report.config(max_batch_size=64)


def model_deployment(config: dict, variant: TritonVariant):
    merged = copy.deepcopy(config)
    merged.update(copy.deepcopy(variant.config))
    return parse_model_deployment({
        "apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "mlp"},
        "spec": {"model": {"name": "mlp", "uri": "file:mlp", "version": "1", "format": "python", "config": merged}},
    })


def json_body() -> bytes:
    x = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
    return json.dumps({"inputs": [{"name": "INPUT__0", "shape": [1, 256], "datatype": "FP32",
                                   "data": x.flatten().tolist()}]}).encode()


def tree_cpu_seconds(pid: int) -> float:
    """User + system time of a process and its live children (Triton's backend stubs)."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


class Progress:
    def __init__(self, total: int):
        self.done, self.total, self.started = 0, total, time.perf_counter()

    def row(self, row: Row) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total} {time.perf_counter() - self.started:5.0f}s] {row.server:30} "
              f"{row.protocol:11} {row.client:13} c={row.concurrency:<2} {row.throughput:8,.0f} req/s  "
              f"p50 {row.p50_ms:6.2f}  p99 {row.p99_ms:6.2f} ms  client {100 * row.client_cpu_share:3.0f}% "
              f"of a core  batch {row.mean_batch:4.1f}", file=sys.stderr, flush=True)


Load = Callable[[int], LoadResult]


def measure_server(name: str, pid: int, loads: list[tuple[str, str, Load]], stats: Callable[[], ModelStatistics] | None,
                   progress: Progress) -> list[Row]:
    rows = []
    for client, protocol, run in loads:
        run(4)  # warm-up: connections, allocator pools, the stub's first batches
        for concurrency in CONCURRENCIES:
            before_cpu, before = tree_cpu_seconds(pid), stats() if stats else None
            load = run(concurrency)
            cpu = tree_cpu_seconds(pid) - before_cpu
            if stats:
                window = stats() - before
                requests, batches, mean_batch = window.inferences, window.executions_by_batch, window.mean_batch
            else:  # one request at a time: every execution is batch 1
                requests = round(load.throughput * load.client_wall_seconds)
                batches, mean_batch = {1: requests}, 1.0
            row = Row(server=name, client=client, protocol=protocol, concurrency=concurrency,
                      throughput=load.throughput, p50_ms=load.p50_ms, p99_ms=load.p99_ms,
                      client_cpu_share=load.client_cpu_share,
                      server_cpu_us_per_request=1e6 * cpu / requests if requests else 0.0,
                      mean_batch=mean_batch, executions_by_batch=batches)
            progress.row(row)
            rows.append(row)
    return rows


def triton_loads(md, server, seconds: float, client_cpus: set[int] | None, with_wrk: bool) -> list:
    window_ms = int(seconds * 1000 / 3)  # perf_analyzer measures three windows

    def perf(protocol: str, fmt: str) -> Load:
        url = server.grpc_url if protocol == "grpc" else server.http_url
        return lambda c: run_perf_analyzer(md, url, c, protocol=protocol, tensor_format=fmt, window_ms=window_ms,
                                           cpus=client_cpus)

    url = f"http://{server.http_url}/v2/models/mlp/versions/1/infer"
    loads = [("wrk", "HTTP JSON", lambda c: run_wrk(url, json_body(), c, seconds, client_cpus))] if with_wrk else []
    return loads + [("perf_analyzer", "HTTP JSON", perf("http", "json")),
                    ("perf_analyzer", "HTTP binary", perf("http", "binary")),
                    ("perf_analyzer", "gRPC", perf("grpc", "binary"))]


@contextmanager
def naive_server(model: Path, cpus: set[int] | None) -> Iterator[tuple[int, str]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "naive_server.py"), str(model), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    url = f"http://127.0.0.1:{port}/v2/models/mlp/infer"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=json_body(), method="POST"), timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield process.pid, url
    finally:
        process.terminate()
        process.wait()


def variants(ablation: bool) -> list[TritonVariant]:
    generated = [TritonVariant("Triton (generated config)")]
    if not ablation:
        return generated
    return generated + [
        TritonVariant("Triton, 8 HTTP threads", extra_args=["--http-thread-count=8"]),
        TritonVariant("Triton, no dynamic batching", config={"dynamicBatching": None}),
        TritonVariant("Triton, 2 instances", config={"instanceGroups": [{"kind": "CPU", "count": 2}]}),
    ]


def run(args: argparse.Namespace) -> dict:
    seconds = 2 if args.quick else 9
    client_cpus, server_cpus = split_cores(not args.no_pin)
    with_wrk = have_wrk()
    if not with_wrk:
        print("wrk not found (apt-get install wrk): the naive server and the HTTP JSON wrk rows are skipped",
              file=sys.stderr)
    find_perf_analyzer()
    work = Path(tempfile.mkdtemp(prefix="md-bench-"))
    model_dir, config = build_model(work)
    todo = variants(args.ablation)
    progress = Progress(len(CONCURRENCIES) * (len(todo) * (3 + with_wrk) + with_wrk))
    load_before = os.getloadavg()
    rows: list[Row] = []
    for variant in todo:
        md = model_deployment(config, variant)
        options = ServeOptions(workdir=work / "serve", cpus=server_cpus, extra_args=variant.extra_args)
        with serving(md, work, options) as server:
            stats = lambda: read_statistics(server.http_url, "mlp", "1")  # noqa: E731
            loads = triton_loads(md, server, seconds, client_cpus, with_wrk)
            rows += measure_server(variant.label, server.triton.process.pid, loads, stats, progress)
    if with_wrk:
        with naive_server(model_dir / "model.pt", server_cpus) as (pid, url):
            rows += measure_server("naive Flask + torch", pid,
                                   [("wrk", "HTTP JSON", lambda c: run_wrk(url, json_body(), c, seconds, client_cpus))],
                                   None, progress)
    batch_sizes = sorted({b for row in rows for b in row.executions_by_batch})
    print(f"compute limit: timing the TorchScript in-process at {len(batch_sizes)} batch sizes…", file=sys.stderr)
    seconds_by_batch = forward_seconds(model_dir / "model.pt", DIMS, batch_sizes, threads=1, cpus=server_cpus)
    for row in rows:
        row.limit = limit(row.executions_by_batch, seconds_by_batch)
    return {
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "client_cores": sorted(client_cpus or []),
                    "server_cores": sorted(server_cpus or []), "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
        "seconds_per_point": seconds,
        "forward_seconds": seconds_by_batch,
        "config": config,
        "rows": [asdict(row) | {"percent_of_limit": row.percent_of_limit} for row in rows],
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def print_report(result: dict) -> None:
    m = result["machine"]
    pinning = (f"client on core {m['client_cores']}, server on {m['server_cores']}" if m["client_cores"]
               else "not pinned")
    print(f"\n{m['cpu']}, {m['cores']} cores, {pinning}; {result['seconds_per_point']:g} s per point; "
          f"load average {m['load_average_before'][0]:.2f} before, {m['load_average_after'][0]:.2f} after")
    print(f"{'server':30} {'protocol':11} {'client':13} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'client':>7} {'srv µs/req':>10} {'batch':>5} {'limit/s':>8} {'% limit':>7}")
    for r in result["rows"]:
        print(f"{r['server']:30} {r['protocol']:11} {r['client']:13} {r['concurrency']:>4} {r['throughput']:8,.0f} "
              f"{r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {100 * r['client_cpu_share']:6.0f}% "
              f"{r['server_cpu_us_per_request']:10.0f} {r['mean_batch']:5.1f} {r['limit']:8,.0f} "
              f"{r['percent_of_limit']:6.0f}%")
    rows = result["rows"]
    naive = next((r for r in rows if r["server"].startswith("naive") and r["concurrency"] == 32), None)
    best = [r for r in rows if r["server"] == rows[0]["server"] and r["concurrency"] == 32]
    if best:
        top = max(best, key=lambda r: r["throughput"])
        print(f"\nbest at concurrency 32: {top['protocol']} ({top['client']}) {top['throughput']:,.0f} req/s, "
              f"p99 {top['p99_ms']:.2f} ms, {top['percent_of_limit']:.0f}% of the compute limit "
              f"(goal ≥ 70% with p99 ≤ 10 ms)")
        if naive:
            same_client = next(r for r in best if r["client"] == "wrk")
            print(f"vs naive Flask, both wrk HTTP JSON: {same_client['throughput'] / naive['throughput']:.2f}× "
                  f"throughput, p99 {same_client['p99_ms']:.2f} vs {naive['p99_ms']:.2f} ms (goal ≥ 6×, p99 no worse)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per point instead of 9 s")
    parser.add_argument("--ablation", action="store_true",
                        help="also measure Triton with one generated setting undone at a time")
    parser.add_argument("--no-pin", action="store_true", help="let client and server share every core")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="draw throughput vs p99 into this PNG")
    args = parser.parse_args()
    result = run(args)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.plot:
        from serving_plot import plot  # noqa: PLC0415 - matplotlib only when asked
        plot(result, args.plot)


if __name__ == "__main__":
    main()
