"""Load a served model with Triton's own perf_analyzer and read its report.

perf_analyzer is a compiled client (C++), so at the concurrencies that matter
it is not the bottleneck a Python load generator is. Each run's client CPU
time comes from the kernel's accounting of the child (wait4), so a report
always says how much of a core the client itself used.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modeldeploy.api import ModelDeployment

from .errors import ExitCode, RuntimeFailure
from .measured_run import run_measured

# Where scripts/perf-analyzer puts it in a checkout (editable install).
_CHECKOUT_TOOL = Path(__file__).resolve().parents[2] / ".cache" / "tools" / "bin" / "perf_analyzer"
INSTALL_HINT = ("perf_analyzer not found: run scripts/perf-analyzer in a modeldeploy checkout, put Triton's "
                "perf_analyzer on PATH, or set MODELDEPLOY_PERF_ANALYZER")


@dataclass(frozen=True)
class LoadResult:
    """One closed-loop load level, from any load generator."""

    concurrency: int
    throughput: float  # requests per second over the measured time
    p50_ms: float
    p99_ms: float
    client_cpu_seconds: float  # the client's own user + system time over its whole run
    client_wall_seconds: float

    @property
    def client_cpu_share(self) -> float:
        """Fraction of one core the client used while it ran."""
        return self.client_cpu_seconds / self.client_wall_seconds if self.client_wall_seconds else 0.0


def find_perf_analyzer() -> Path:
    candidates = [os.environ.get("MODELDEPLOY_PERF_ANALYZER"), shutil.which("perf_analyzer"), str(_CHECKOUT_TOOL)]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise RuntimeFailure(ExitCode.TRITON_UNAVAILABLE, INSTALL_HINT)


def shape_args(md: ModelDeployment) -> list[str]:
    """--shape for inputs with variable dims (-1 → 1), which perf_analyzer cannot guess."""
    config = md.spec.model.config
    if config is None:
        return []
    return [f"--shape={t.name}:{','.join('1' if d == -1 else str(d) for d in t.dims)}"
            for t in config.inputs if -1 in t.dims]


def run_perf_analyzer(md: ModelDeployment, url: str, concurrency: int, *, protocol: str = "http",
                      tensor_format: str = "binary", window_ms: int = 2000, cpus: set[int] | None = None,
                      binary: Path | None = None, timeout_seconds: float = 300.0) -> LoadResult:
    """One concurrency level: three fixed windows of window_ms, averaged.

    The stability check is effectively off (a 999% band): on a shared machine
    it can refuse to report at all; fixed windows measure what wrk measures.
    """
    binary = binary or find_perf_analyzer()
    with tempfile.TemporaryDirectory(prefix="md-perf-") as tmp:
        report = Path(tmp) / "report.csv"
        command = [
            str(binary), "-m", md.model_name, "-x", md.spec.model.version, "-u", url, "-i", protocol,
            f"--concurrency-range={concurrency}", f"--measurement-interval={window_ms}",
            "--stability-percentage=999", "--max-trials=3", "-f", str(report), *shape_args(md),
        ]
        if protocol == "http":
            command += [f"--input-tensor-format={tensor_format}", f"--output-tensor-format={tensor_format}"]
        run = run_measured(command, cpus=cpus, timeout_seconds=timeout_seconds)
        if run.returncode != 0 or not report.is_file():
            tail = "\n".join(run.output.strip().splitlines()[-5:])
            raise RuntimeFailure(ExitCode.TRITON_FAILED, f"perf_analyzer exited with {run.returncode}:\n{tail}")
        return parse_report(report.read_text(), run.cpu_seconds, run.wall_seconds)


def parse_report(text: str, client_cpu_seconds: float, wall_seconds: float) -> LoadResult:
    """perf_analyzer's -f CSV (one row per concurrency; the last row is taken). Latencies are in µs."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise RuntimeFailure(ExitCode.TRITON_FAILED, "perf_analyzer wrote an empty report")
    row = rows[-1]
    return LoadResult(concurrency=int(row["Concurrency"]), throughput=float(row["Inferences/Second"]),
                      p50_ms=float(row["p50 latency"]) / 1000, p99_ms=float(row["p99 latency"]) / 1000,
                      client_cpu_seconds=client_cpu_seconds, client_wall_seconds=wall_seconds)
