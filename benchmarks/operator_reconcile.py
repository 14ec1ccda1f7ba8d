"""Operator cost against the Kubernetes API emulator, side by side with a minimal kopf operator.

Not a test: it prints figures (and --json writes them). What belongs to the
operator is measured from the operator process itself (CPU time, RSS) and by
counting API requests; wall-clock latency is reported with the emulator's own
per-request time beside it, since the emulator is a Python server too.

    python benchmarks/operator_reconcile.py --quick     # ~1 minute
    python benchmarks/operator_reconcile.py             # 20 CRs for latency, 1,000 for memory
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.apiserver import LiveApiServer  # noqa: E402
from support.operator_process import OperatorProcess, free_port, wait_for  # noqa: E402
from figures import Figure, add_arguments, finish  # noqa: E402
from progress import step  # noqa: E402

NS = "bench"
MDS = f"/apis/serving.modeldeploy.io/v1alpha1/namespaces/{NS}/modeldeployments"
CHILDREN = 6
MiB = 1024 * 1024


def manifest(name: str) -> dict:
    md = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    md["metadata"] = {"name": name, "namespace": NS}
    return md


class Minimal(OperatorProcess):
    """benchmarks/minimal_operator.py under `kopf run`, managed like the real one."""

    def start(self, wait_ready: bool = True) -> Minimal:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "PYTHONPATH": str(REPO)}
        self._log = open(self.log_path, "a")
        self.health_port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", str(REPO / "benchmarks" / "minimal_operator.py"),
             "--all-namespaces", "--standalone", f"--liveness=http://127.0.0.1:{self.health_port}/healthz"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.http("/healthz")[0] == 200, timeout=30, what="minimal operator up")
        return self


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def child_writes(api: LiveApiServer, since: int) -> list[tuple[str, str, float]]:
    return [w for w in api.write_log()[since:] if "/modeldeployments" not in w[1] and "/events" not in w[1]]


def settle(api: LiveApiServer, quiet: float = 1.0, timeout: float = 600) -> None:
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(api.write_log())
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(min(0.1, quiet / 3))


def emulator_request_ms(api: LiveApiServer, samples: int = 20) -> float:
    """What one apply costs the emulator at its current size, measured from outside."""
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": "probe"},
          "data": {"k": "v"}}
    times = []
    for i in range(samples):
        cm["data"]["k"] = str(i)
        started = time.perf_counter()
        api.request("PATCH", "/api/v1/namespaces/probe/configmaps/probe?fieldManager=bench", cm,
                    "application/apply-patch+yaml")
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run_one(kind: str, latency_crs: int, scale_crs: int, resync: float) -> dict:
    with LiveApiServer(request_log_limit=1000) as api:
        op = (OperatorProcess(api, resync_seconds=resync) if kind == "modeldeploy" else Minimal(api))
        try:
            op.start()
            proc = psutil.Process(op.proc.pid)
            time.sleep(2)
            idle_rss = proc.memory_info().rss / MiB

            # (a)(b)(c): CRs created one at a time, each waited for.
            latencies, mark_cpu = [], cpu(proc)
            mark_writes, mark_requests = len(api.write_log()), api.on_loop(lambda: api.server.requests_total)
            step(f"{kind}: creating {latency_crs} ModelDeployments one at a time")
            for i in range(latency_crs):
                mark = len(api.write_log())
                started = time.monotonic()
                status, body = api.request("POST", MDS, manifest(f"lat-{i}"))
                assert status == 201, body
                wait_for(lambda: len(child_writes(api, mark)) >= CHILDREN, timeout=30, interval=0.002,
                         what=f"children of lat-{i}")
                latencies.append(child_writes(api, mark)[CHILDREN - 1][2] - started)
                # Latency of one create, not of a queue: the operator finishes this one (status,
                # Event, watch echoes) before the next arrives. Throughput is the scale phase below.
                settle(api, quiet=0.3)
            create_cpu_ms = (cpu(proc) - mark_cpu) * 1000 / latency_crs
            writes = [w for w in api.write_log()[mark_writes:] if not (w[0] == "POST" and w[1] == MDS)]
            requests = api.on_loop(lambda: api.server.requests_total) - mark_requests - latency_crs
            per_request_ms = emulator_request_ms(api)

            # No-op resync ticks: several periods with nothing changing.
            mark_cpu, mark_writes = cpu(proc), len(api.write_log())
            periods = 5
            step(f"{kind}: {periods * resync:.0f} s with nothing changing (no-op resyncs)")
            time.sleep(periods * resync)
            idle_writes = len(api.write_log()) - mark_writes
            tick_cpu_ms = (cpu(proc) - mark_cpu) * 1000 / (periods * latency_crs)

            # (d): memory with many CRs.
            step(f"{kind}: creating {scale_crs - latency_crs} more and waiting for every one to be reconciled")
            for i in range(scale_crs - latency_crs):
                status, _ = api.request("POST", MDS, manifest(f"scale-{i}"))
                assert status == 201
            wait_for(lambda: len([w for w in api.write_log() if "/deployments/" in w[1]]) >= scale_crs,
                     timeout=1800, interval=0.5, what="every CR reconciled")
            settle(api, quiet=2.0)
            mark_cpu, mark_writes = cpu(proc), len(api.write_log())
            time.sleep(2 * resync)
            scale_tick_cpu_ms = (cpu(proc) - mark_cpu) * 1000 / (2 * scale_crs)
            scale_idle_writes = len(api.write_log()) - mark_writes
            rss_at_scale = proc.memory_info().rss / MiB
            restart = {}
            if kind == "modeldeploy":
                # A restart at this size: the full listing of every watched kind, then a pass over every
                # ModelDeployment from the cache; it must write nothing.
                step(f"{kind}: restarting with {scale_crs} ModelDeployments (a full relist)")
                op.stop()
                mark_writes, started = len(api.write_log()), time.monotonic()
                op.start()
                wait_for(lambda: re.search(r"^modeldeploy_cache_synced 1\.0$", op.metrics(), re.M), timeout=1800,
                         interval=0.1, what="the restarted operator's cache synced")
                restart = {"relist_seconds": round(time.monotonic() - started, 1)}
                settle(api, quiet=2.0)
                restart["writes_per_restart"] = len(api.write_log()) - mark_writes
            return {
                "operator": kind,
                "create_cpu_ms": round(create_cpu_ms, 2),
                "noop_tick_cpu_ms": round(tick_cpu_ms, 3) if kind == "modeldeploy" else None,
                "noop_tick_cpu_ms_at_scale": round(scale_tick_cpu_ms, 3) if kind == "modeldeploy" else None,
                "writes_per_create": round(len(writes) / latency_crs, 2),
                "requests_per_create": round(requests / latency_crs, 2),
                "writes_while_idle": idle_writes + scale_idle_writes,
                "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
                "latency_p99_ms": round(sorted(latencies)[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1),
                "emulator_request_ms": round(per_request_ms, 2),
                "rss_idle_mib": round(idle_rss, 1),
                "rss_at_scale_mib": round(rss_at_scale, 1),
                "crs_at_scale": scale_crs,
                **restart,
            }
        finally:
            op.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 CRs for latency, 100 for memory")
    add_arguments(parser)
    parser.add_argument("--scale-crs", type=int, help="CRs for the memory figure (default 1000, quick 100)")
    parser.add_argument("--without-floor", action="store_true",
                        help="the operator alone (for a memory and relist figure at a size the floor adds nothing to)")
    args = parser.parse_args()
    latency_crs, scale_crs = (10, 100) if args.quick else (20, 1000)
    scale_crs = args.scale_crs or scale_crs
    resync = 2.0
    results = []
    for kind in ("modeldeploy",) if args.without_floor else ("minimal", "modeldeploy"):
        step(f"{kind}: starting the operator against the API emulator")
        results.append(run_one(kind, latency_crs, scale_crs, resync))
    if args.without_floor:
        print("\n".join(f"{key:<28}{value!s:>16}" for key, value in results[0].items()))
        return
    floor, ours = results
    ratio = ours["latency_p50_ms"] / floor["latency_p50_ms"] if floor["latency_p50_ms"] else float("nan")
    keys = [k for k in ours if k != "operator"]
    print(f"{'figure':<28}{'minimal kopf':>16}{'modeldeploy':>16}")
    for key in keys:
        print(f"{key:<28}{str(floor.get(key, '—')):>16}{str(ours[key]):>16}")
    print(f"{'latency p50 ratio':<28}{'':>16}{ratio:>16.2f}")
    figures = {
        "latency_p50_over_floor": Figure(ratio, "lower", "CR created → its children applied, p50, over the kopf floor's"),
        "writes_while_idle": Figure(ours["writes_while_idle"], "lower", "API writes while nothing changes"),
        "rss_at_scale_mib": Figure(ours["rss_at_scale_mib"], "lower",
                                   f"operator RSS MiB with {ours['crs_at_scale']} ModelDeployments"),
    }
    if floor.get("create_cpu_ms"):
        figures["cpu_per_create_over_floor"] = Figure(ours["create_cpu_ms"] / floor["create_cpu_ms"], "lower",
                                                      "operator CPU per create over the kopf floor's")
    sys.exit(finish(args, "operator_reconcile", figures, {"results": results, "latency_p50_ratio": ratio}))


if __name__ == "__main__":
    main()
