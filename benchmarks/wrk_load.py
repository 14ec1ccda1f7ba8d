"""Closed-loop HTTP load with wrk (Debian's `wrk`), posting one KServe v2 JSON body.

wrk is compiled and event-driven: one thread keeps 32 connections busy at
tens of thousands of requests per second, so it measures any of these servers
rather than itself. It speaks plain HTTP only, which is why it is the one
client that reaches every server (the naive Flask server has no binary
tensors and no gRPC).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from modeldeploy_runtime.measured_run import run_measured
from modeldeploy_runtime.perf_analyzer import LoadResult

# done() runs once at the end; it prints one JSON line the runner parses.
_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d}}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""

INSTALL_HINT = "wrk not found: apt-get install wrk (Debian/Ubuntu)"


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, body: bytes, concurrency: int, seconds: int, cpus: set[int] | None = None) -> LoadResult:
    if not have_wrk():
        raise RuntimeError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="md-wrk-") as tmp:
        (Path(tmp) / "body.json").write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(_SCRIPT.format(body=Path(tmp) / "body.json"))
        run = run_measured(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout=10s", "-s", str(script),
                            url], cpus=cpus, timeout_seconds=seconds + 60)
    line = next((l for l in run.output.splitlines() if l.startswith("WRK ")), None)
    if run.returncode != 0 or line is None:
        raise RuntimeError(f"wrk exited with {run.returncode}: {run.output.strip()[-500:]}")
    report = json.loads(line[4:])
    if report["errors"]:
        raise RuntimeError(f"wrk saw {report['errors']} failed requests of {report['requests']} at {url}")
    return LoadResult(concurrency=concurrency, throughput=report["requests"] / (report["duration_us"] / 1e6),
                      p50_ms=report["p50_us"] / 1000, p99_ms=report["p99_us"] / 1000,
                      client_cpu_seconds=run.cpu_seconds, client_wall_seconds=run.wall_seconds)
