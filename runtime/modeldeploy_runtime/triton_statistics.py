"""Triton's statistics API for one model version: where a request's time went.

Prometheus metrics (the operator's triton_metrics client) give totals; only
the statistics API tells which batch sizes Triton actually executed, which is
what an in-process compute limit must be measured at. Counters are
cumulative: take a snapshot before and after a load and subtract.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field

_PHASES = ("queue", "compute_input", "compute_infer", "compute_output")


@dataclass(frozen=True)
class ModelStatistics:
    inferences: int = 0
    executions: int = 0
    success_ns: int = 0  # summed over requests: request arrival to response
    phase_ns: dict[str, int] = field(default_factory=dict)  # summed over requests, per phase
    executions_by_batch: dict[int, int] = field(default_factory=dict)  # batch size → executions

    def __sub__(self, earlier: ModelStatistics) -> ModelStatistics:
        batches = {size: count - earlier.executions_by_batch.get(size, 0)
                   for size, count in self.executions_by_batch.items()}
        return ModelStatistics(
            inferences=self.inferences - earlier.inferences,
            executions=self.executions - earlier.executions,
            success_ns=self.success_ns - earlier.success_ns,
            phase_ns={p: self.phase_ns.get(p, 0) - earlier.phase_ns.get(p, 0) for p in _PHASES},
            executions_by_batch={size: count for size, count in batches.items() if count > 0},
        )

    @property
    def mean_batch(self) -> float:
        return self.inferences / self.executions if self.executions else 0.0

    def per_request_us(self, phase: str) -> float:
        """Mean time of one phase per request (queue, compute_input, compute_infer, compute_output)."""
        return self.phase_ns.get(phase, 0) / self.inferences / 1000 if self.inferences else 0.0


def parse_statistics(body: dict) -> ModelStatistics:
    """The JSON of GET /v2/models/M/versions/V/stats (one model version)."""
    stats = body["model_stats"][0]
    inference = stats["inference_stats"]
    return ModelStatistics(
        inferences=int(stats["inference_count"]),
        executions=int(stats["execution_count"]),
        success_ns=int(inference["success"]["ns"]),
        phase_ns={p: int(inference[p]["ns"]) for p in _PHASES},
        executions_by_batch={int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats["batch_stats"]},
    )


def read_statistics(http_url: str, model: str, version: str, timeout_seconds: float = 10.0) -> ModelStatistics:
    """Snapshot from Triton's HTTP endpoint (host:port)."""
    url = f"http://{http_url}/v2/models/{model}/versions/{version}/stats"
    with urllib.request.urlopen(url, timeout=timeout_seconds) as response:  # noqa: S310 - a local Triton
        return parse_statistics(json.loads(response.read()))
