"""Serving throughput and latency, measured the way Triton's own tools do, in one run.

Servers (same model: a 256→1024→1024→10 MLP packaged with `modeldeploy package`):
  - Triton 2.51, python backend, with the config `package` recommends and the
    flags ModelDeploy generates
  - the same Triton serving a no-op model (the serving path's own floor)
  - a naive Flask + torch server (model loaded once, one request at a time)

Clients, all compiled, side by side:
  - wrk, one KServe v2 JSON body over HTTP (every server)
  - perf_analyzer over HTTP with JSON tensors, HTTP with binary tensors, and gRPC (Triton)

at concurrency 1, 8 and 32. Every server runs from the start, pinned to the
server's cores, and the points are measured round-robin (--rounds), so drift
on a shared machine falls on all of them alike. Client and server are pinned
to separate cores when the machine has two or more. Every row shows the
client's CPU share, the server's CPU per request (Triton's own process and its
python-backend stubs apart), the batch sizes Triton executed (its statistics
API), the CPU other jobs used meanwhile, and the compute limit: the same
TorchScript run in-process at those batch sizes on the server's cores.
Ratios matter; absolute numbers drift.

    python benchmarks/serving_throughput.py [--quick] [--json FILE] [--plot PNG] [--ablation]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import psutil
import torch

from client_paths import measure_paths
from compute_limit import forward_seconds, limit
from figures import add_arguments, finish, machine
from machine_noise import busy_cpu_seconds, wait_until_quiet
from modeldeploy.api import parse_model_deployment
from modeldeploy_runtime.measured_run import split_cores
from modeldeploy_runtime.package import package_module
from modeldeploy_runtime.perf_analyzer import LoadResult, find_perf_analyzer, run_perf_analyzer
from modeldeploy_runtime.serve import LocalServer, ServeOptions, serving
from modeldeploy_runtime.triton_process import free_port
from modeldeploy_runtime.triton_statistics import ModelStatistics, read_statistics
from serving_report import NAIVE, NOOP, print_report, serving_figures
from triton_trace import read_traces, summarize, trace_args
from wrk_load import have_wrk, run_wrk

HERE = Path(__file__).resolve().parent
CONCURRENCIES = (1, 8, 32)
DIMS = [256]


@dataclass
class Variant:
    """A Triton configuration to measure; the first is what ModelDeploy generates."""

    label: str
    config: dict = field(default_factory=dict)  # merged into spec.model.config (None removes a key)
    extra_args: list[str] = field(default_factory=list)
    model: str = "mlp"  # the folder under the work dir: mlp, or noop


@dataclass
class Server:
    label: str
    pid: int
    stats: Callable[[], ModelStatistics] | None  # None: a server that runs one request at a time


@dataclass
class Point:
    server: Server
    client: str  # wrk | perf_analyzer
    protocol: str  # HTTP JSON | HTTP binary | gRPC
    run: Callable[[int, float], LoadResult]  # (concurrency, seconds)
    concurrencies: tuple[int, ...] = CONCURRENCIES


@dataclass
class Sample:
    load: LoadResult
    server_cpu: float
    stub_cpu: float
    others_cpu: float
    requests: int
    executions_by_batch: dict[int, int]


def build_models(work: Path) -> dict:
    """The MLP, packaged, and the no-op model; returns the spec.model.config `package` recommends."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                              torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    report = package_module(mlp, [torch.randn(1, 256)], work / "mlp")
    (work / "noop").mkdir()
    shutil.copy(HERE / "noop_model.py", work / "noop" / "model.py")
    return report.config(max_batch_size=64)


def model_deployment(config: dict, variant: Variant):
    merged = copy.deepcopy(config)
    for key, value in copy.deepcopy(variant.config).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return parse_model_deployment({
        "apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "mlp"},
        "spec": {"model": {"name": "mlp", "uri": f"file:{variant.model}", "version": "1", "format": "python",
                           "config": merged}},
    })


def json_body() -> bytes:
    x = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
    return json.dumps({"inputs": [{"name": "INPUT__0", "shape": [1, 256], "datatype": "FP32",
                                   "data": x.flatten().tolist()}]}).encode()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(whole process tree, its children only): for Triton, the children are the python-backend stubs."""
    root = psutil.Process(pid)
    own, children = 0.0, 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        if process.pid == pid:
            own += times.user + times.system
        else:
            children += times.user + times.system
    return own + children, children


def measure(point: Point, concurrency: int, seconds: float) -> Sample:
    server = point.server
    (cpu0, stub0), busy0 = cpu_seconds(server.pid), busy_cpu_seconds()
    stats0 = server.stats() if server.stats else None
    load = point.run(concurrency, seconds)
    (cpu1, stub1), busy1 = cpu_seconds(server.pid), busy_cpu_seconds()
    if server.stats:
        window = server.stats() - stats0
        requests, batches = window.inferences, window.executions_by_batch
    else:  # one request at a time: every execution is batch 1
        requests = round(load.throughput * load.client_wall_seconds)
        batches = {1: requests}
    others = max(0.0, busy1 - busy0 - (cpu1 - cpu0) - load.client_cpu_seconds)
    return Sample(load, cpu1 - cpu0, stub1 - stub0, others, requests, batches)


def row(point: Point, concurrency: int, samples: list[Sample]) -> dict:
    """One table row from a point's rounds: medians of the rates, sums of the CPU and batch counts."""
    requests = sum(s.requests for s in samples) or 1
    wall = sum(s.load.client_wall_seconds for s in samples)
    batches: dict[int, int] = {}
    for s in samples:
        for size, count in s.executions_by_batch.items():
            batches[size] = batches.get(size, 0) + count
    throughputs = [s.load.throughput for s in samples]
    return {
        "server": point.server.label, "client": point.client, "protocol": point.protocol,
        "concurrency": concurrency, "rounds": len(samples),
        "throughput": statistics.median(throughputs), "throughput_min": min(throughputs),
        "throughput_max": max(throughputs),
        "p50_ms": statistics.median(s.load.p50_ms for s in samples),
        "p99_ms": statistics.median(s.load.p99_ms for s in samples),
        "client_cpu_share": sum(s.load.client_cpu_seconds for s in samples) / wall,
        "server_cpu_us_per_request": 1e6 * sum(s.server_cpu for s in samples) / requests,
        "stub_cpu_us_per_request": 1e6 * sum(s.stub_cpu for s in samples) / requests,
        "other_cpu_share": sum(s.others_cpu for s in samples) / wall,
        "mean_batch": sum(b * n for b, n in batches.items()) / max(1, sum(batches.values())),
        "executions_by_batch": batches,
    }


def triton_points(server: Server, md, triton, client_cpus: set[int] | None, with_wrk: bool,
                  concurrencies: tuple[int, ...] = CONCURRENCIES) -> list[Point]:
    def perf(protocol: str, fmt: str) -> Callable[[int, float], LoadResult]:
        url = triton.grpc_url if protocol == "grpc" else triton.http_url
        return lambda c, s: run_perf_analyzer(md, url, c, protocol=protocol, tensor_format=fmt,
                                              window_ms=int(s * 1000 / 3), cpus=client_cpus)

    url = f"http://{triton.http_url}/v2/models/mlp/versions/1/infer"
    wrk = [Point(server, "wrk", "HTTP JSON", lambda c, s: run_wrk(url, json_body(), c, s, client_cpus),
                 concurrencies)] if with_wrk else []
    return wrk + [Point(server, "perf_analyzer", "HTTP JSON", perf("http", "json"), concurrencies),
                  Point(server, "perf_analyzer", "HTTP binary", perf("http", "binary"), concurrencies),
                  Point(server, "perf_analyzer", "gRPC", perf("grpc", "binary"), concurrencies)]


@contextmanager
def naive_server(model: Path, cpus: set[int] | None) -> Iterator[tuple[int, str]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "naive_server.py"), str(model), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    url = f"http://127.0.0.1:{port}/v2/models/mlp/infer"
    try:
        for _ in range(1200):
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=json_body(), method="POST"), timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield process.pid, url
    finally:
        process.terminate()
        process.wait()


def variants(ablation: bool, extra: list[Variant]) -> list[Variant]:
    out = [Variant("Triton (generated config)")]
    if ablation:
        out += [Variant("Triton, no dynamic batching", config={"dynamicBatching": None}),
                Variant("Triton, 2 instances", config={"instanceGroups": [{"kind": "CPU", "count": 2}]})]
    return out + extra


def start_servers(stack: ExitStack, work: Path, config: dict, todo: list[Variant], cpus: tuple, with_wrk: bool,
                  quick: bool) -> tuple[list[Point], LocalServer]:
    """Every server, started at once; returns the points to measure and the generated-config Triton."""
    client_cpus, server_cpus = cpus
    points: list[Point] = []
    servers: list[LocalServer] = []
    for i, variant in enumerate([*todo, Variant(NOOP, model="noop")]):
        md = model_deployment(config, variant)
        options = ServeOptions(workdir=work / f"serve-{i}", cpus=server_cpus, extra_args=variant.extra_args)
        triton = stack.enter_context(serving(md, work, options))
        servers.append(triton)
        server = Server(variant.label, triton.triton.process.pid,
                        lambda url=triton.http_url: read_statistics(url, "mlp", "1"))
        # The floor needs only its top concurrency; the generated config gets every client.
        if variant.label == NOOP:
            points += triton_points(server, md, triton, client_cpus, with_wrk, (32,))
        elif i == 0 or not quick:
            points += triton_points(server, md, triton, client_cpus, with_wrk)
        else:
            points += triton_points(server, md, triton, client_cpus, with_wrk)[:1]
    if with_wrk:
        pid, url = stack.enter_context(naive_server(work / "mlp" / "model.pt", server_cpus))
        points.append(Point(Server(NAIVE, pid, None), "wrk", "HTTP JSON",
                            lambda c, s: run_wrk(url, json_body(), c, s, client_cpus)))
    return points, servers[0]


def trace_breakdown(work: Path, config: dict, cpus: tuple, seconds: float) -> dict[str, list]:
    """Where one request's time goes inside Triton, from its own traces (1 request in 100), at concurrency 32."""
    client_cpus, server_cpus = cpus
    out = {}
    md = model_deployment(config, Variant("traced"))
    for protocol, fmt in (("HTTP JSON", "json"), ("HTTP binary", "binary")):
        trace_file = work / f"trace-{fmt}" / "trace.json"
        trace_file.parent.mkdir()
        options = ServeOptions(workdir=work / f"serve-trace-{fmt}", cpus=server_cpus, extra_args=trace_args(trace_file))
        with serving(md, work, options) as triton:
            run_perf_analyzer(md, triton.http_url, 32, tensor_format=fmt, window_ms=int(seconds * 1000 / 3),
                              cpus=client_cpus)
        out[protocol] = summarize(read_traces(trace_file))
    return out


def run(args: argparse.Namespace) -> dict:
    seconds = 2 if args.quick else 3
    rounds = args.rounds or (1 if args.quick else 3)
    cpus = split_cores(not args.no_pin)
    with_wrk = have_wrk()
    if not with_wrk:
        print("wrk not found (apt-get install wrk): the naive server and the wrk rows are skipped", file=sys.stderr)
    find_perf_analyzer()
    work = Path(tempfile.mkdtemp(prefix="md-bench-"))
    config = build_models(work)
    load_before = os.getloadavg()
    samples: dict[tuple[int, int], list[Sample]] = {}
    with ExitStack() as stack:
        print("starting every server…", file=sys.stderr)
        points, generated = start_servers(stack, work, config, variants(args.ablation, args.variant), cpus, with_wrk,
                                          args.quick)
        for point in points:
            point.run(4, 1)  # warm-up: connections, allocator pools, the stub's first batches
        plan = [(r, c, i) for r in range(rounds) for c in CONCURRENCIES for i, p in enumerate(points)
                if c in p.concurrencies]
        started = time.perf_counter()
        for n, (r, c, i) in enumerate(plan, 1):
            if args.wait_quiet:
                wait_until_quiet()
            point = points[i]
            sample = measure(point, c, seconds)
            samples.setdefault((i, c), []).append(sample)
            print(f"[{n}/{len(plan)} {time.perf_counter() - started:4.0f}s] round {r + 1} {point.server.label:28} "
                  f"{point.protocol:11} {point.client:13} c={c:<2} {sample.load.throughput:7,.0f} req/s  "
                  f"p99 {sample.load.p99_ms:6.2f} ms  client {sample.load.client_cpu_share:4.0%}  "
                  f"others {sample.others_cpu / sample.load.client_wall_seconds:4.0%}", file=sys.stderr, flush=True)
        print("client paths: tritonclient in Python, one request at a time…", file=sys.stderr)
        client_paths = measure_paths(generated.http_url, generated.grpc_url, "mlp", 200 if args.quick else 1000,
                                     cpus[0])
    rows = [row(points[i], c, s) for (i, c), s in sorted(samples.items(), key=lambda kv: kv[0])]
    batch_sizes = sorted({b for r in rows for b in r["executions_by_batch"]})
    print(f"compute limit: the TorchScript in-process at {len(batch_sizes)} batch sizes…", file=sys.stderr)
    seconds_by_batch = forward_seconds(work / "mlp" / "model.pt", DIMS, batch_sizes, threads=1, cpus=cpus[1])
    for r in rows:
        computes = r["server"] != NOOP
        r["limit"] = limit(r["executions_by_batch"], seconds_by_batch) if computes else None
        r["percent_of_limit"] = 100 * r["throughput"] / r["limit"] if computes else None
        # The same ratio from CPU time: the model's in-process forward time per request over all the CPU the
        # server spent per request. CPU time is not stretched by other jobs' load the way throughput is, so
        # on a busy machine this is the steadier estimate of what a quiet core would give.
        r["percent_cpu_in_model"] = 100 * (1e6 / r["limit"]) / r["server_cpu_us_per_request"] if computes else None
    traces = {}
    if not args.quick:  # two more servers to start; no figure --compare reads depends on them
        print("traces: Triton's own timestamps at concurrency 32…", file=sys.stderr)
        traces = trace_breakdown(work, config, cpus, seconds)
    client_cpus, server_cpus = cpus
    return {
        "machine": {**machine(),
                    "torch": torch.__version__, "client_cores": sorted(client_cpus or []),
                    "server_cores": sorted(server_cpus or []), "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
        "seconds_per_point": seconds, "rounds": rounds,
        "forward_seconds": seconds_by_batch, "config": config, "rows": rows, "traces": traces,
        "client_paths": client_paths,
    }


def _variant(text: str) -> Variant:
    label, _, spec = text.partition("=")
    options = json.loads(spec) if spec else {}
    return Variant(label, config=options.get("config", {}), extra_args=options.get("extra_args", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 2 s per point, no traces (default: 3 rounds of 3 s, and traces)")
    parser.add_argument("--rounds", type=int, help="rounds over every point")
    parser.add_argument("--ablation", action="store_true",
                        help="also measure Triton without dynamic batching and with 2 instances")
    parser.add_argument("--variant", type=_variant, action="append", default=[],
                        help='another Triton to measure: LABEL={"config": {...}, "extra_args": [...]}')
    parser.add_argument("--no-pin", action="store_true", help="let client and server share every core")
    parser.add_argument("--wait-quiet", action="store_true",
                        help="before each point, wait (up to 2 min) until other jobs use under 10%% of a core")
    parser.add_argument("--plot", type=Path, help="draw throughput vs p99 into this PNG")
    add_arguments(parser)
    args = parser.parse_args()
    result = run(args)
    print_report(result)
    if args.plot:
        from serving_plot import plot  # noqa: PLC0415 - matplotlib only when asked
        plot(result, args.plot)
    sys.exit(finish(args, "serving_throughput", serving_figures(result), result))


if __name__ == "__main__":
    main()
