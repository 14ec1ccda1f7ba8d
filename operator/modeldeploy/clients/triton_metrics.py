"""Triton's own /metrics, read once for everybody (the autoscaler and the rollout analysis).

One scrape is one `TritonMetrics` per (pod, model): Triton's cumulative
counters summed over the model's versions (or for one version), the live
pending-request gauge, and the p99 of request and queue time when the server
runs with `--metrics-config=summary_latencies=true`. `delta()` turns two
scrapes into rates over the time between them.

A scrape that fails raises `ScrapeError`; it never yields zeros, so a pod that
cannot be read is left out of a decision instead of looking idle.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, fields

from prometheus_client.parser import text_string_to_metric_families

METRICS_PORT = 8002
MAX_BYTES = 4 * 1024 * 1024  # a Triton with hundreds of models stays far below this

# Triton family name → TritonMetrics field.
COUNTERS = {
    "nv_inference_request_success": "success",
    "nv_inference_request_failure": "failure",
    "nv_inference_count": "inferences",
    "nv_inference_exec_count": "executions",
    "nv_inference_request_duration_us": "request_us",
    "nv_inference_queue_duration_us": "queue_us",
    "nv_inference_compute_input_duration_us": "compute_input_us",
    "nv_inference_compute_infer_duration_us": "compute_infer_us",
    "nv_inference_compute_output_duration_us": "compute_output_us",
}
PENDING = "nv_inference_pending_request_count"
SUMMARIES = {"nv_inference_request_summary_us": "request_p99_us", "nv_inference_queue_summary_us": "queue_p99_us"}


class ScrapeError(Exception):
    """The metrics of a pod could not be read: unreachable, an HTTP error, unparsable, or no such model."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class TritonMetrics:
    """Triton's counters for one model on one pod, as cumulative totals since the server started."""

    success: float = 0.0
    failure: float = 0.0
    inferences: float = 0.0  # batch items: a request of batch 8 counts 8
    executions: float = 0.0  # model executions (batches)
    request_us: float = 0.0
    queue_us: float = 0.0
    compute_input_us: float = 0.0
    compute_infer_us: float = 0.0
    compute_output_us: float = 0.0
    pending: float = 0.0  # live gauge: requests waiting in the scheduler's queue now
    request_p99_us: float | None = None  # None without summary_latencies=true
    queue_p99_us: float | None = None

    @property
    def requests(self) -> float:
        return self.success + self.failure

    @property
    def compute_us(self) -> float:
        return self.compute_input_us + self.compute_infer_us + self.compute_output_us


Fetch = Callable[[str, float], str]  # (url, timeout seconds) → the body; raises ScrapeError


def metrics_url(pod_ip: str, port: int = METRICS_PORT) -> str:
    host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip
    return f"http://{host}:{port}/metrics"


def http_fetch(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http to a pod IP only
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise ScrapeError(url, f"HTTP {err.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ScrapeError(url, f"{type(err).__name__}: {reason}") from None
    if len(body) > MAX_BYTES:
        raise ScrapeError(url, f"response larger than {MAX_BYTES} bytes")
    return body.decode("utf-8", errors="replace")


def scrape(pod_ip: str, model: str, version: str | None = None, *, fetch: Fetch = http_fetch,
           timeout: float = 1.0, port: int = METRICS_PORT) -> TritonMetrics:
    url = metrics_url(pod_ip, port)
    return parse(fetch(url, timeout), model, version, source=url)


def parse(text: str, model: str, version: str | None = None, *, source: str = "metrics") -> TritonMetrics:
    """The model's figures in a /metrics text; ScrapeError when the text is broken or lacks the model."""
    totals: dict[str, float] = {}
    quantiles: dict[str, float] = {}
    found = False
    try:
        for family in text_string_to_metric_families(text):
            field = COUNTERS.get(family.name) or (
                "pending" if family.name == PENDING else SUMMARIES.get(family.name))
            if field is None:
                continue
            for sample in family.samples:
                labels = sample.labels
                if labels.get("model") != model or (version is not None and labels.get("version") != version):
                    continue
                found = True
                if family.name in SUMMARIES:
                    # Only the p99 series; one per version, so the worst version speaks for the model.
                    if sample.name == family.name and labels.get("quantile") == "0.99":
                        quantiles[field] = max(quantiles.get(field, 0.0), sample.value)
                elif sample.name in (family.name, f"{family.name}_total"):
                    totals[field] = totals.get(field, 0.0) + sample.value
    except ValueError as err:  # prometheus-client's parser reports malformed lines as ValueError
        raise ScrapeError(source, f"unparsable metrics: {err}") from None
    if not found:
        which = f"model {model!r}" + (f" version {version}" if version is not None else "")
        raise ScrapeError(source, f"{which} has no metrics (not loaded yet, or metrics disabled)")
    return TritonMetrics(**totals, **quantiles)


@dataclass(frozen=True)
class Rates:
    """What happened between two scrapes of one pod: rates per second and averages per request."""

    seconds: float
    requests_per_second: float
    failures_per_second: float
    inferences_per_second: float
    executions_per_second: float
    # Little's law: the summed time requests spent in the server (or its queue) over the window,
    # divided by the window, is the average number of requests in there at once.
    inflight: float
    queued: float
    queue_ms: float | None  # average per successful request; None when none completed
    request_ms: float | None
    compute_ms: float | None

    @property
    def error_ratio(self) -> float | None:
        total = self.requests_per_second
        return None if total == 0 else self.failures_per_second / total


def increase(before: TritonMetrics, after: TritonMetrics) -> TritonMetrics:
    """Counter increases from before to after; a counter that went down means a restart (Prometheus' rule)."""
    values = {}
    for f in fields(TritonMetrics):
        a, b = getattr(before, f.name), getattr(after, f.name)
        if f.name == "pending" or f.name.endswith("_p99_us"):
            values[f.name] = b  # gauges: the latest value
        else:
            values[f.name] = b - a if b >= a else b
    return TritonMetrics(**values)


def delta(before: TritonMetrics, after: TritonMetrics, seconds: float) -> Rates:
    """Rates over the `seconds` between two scrapes of the same pod and model."""
    if seconds <= 0:
        raise ValueError(f"the window must be positive, not {seconds}")
    inc = increase(before, after)
    # Triton adds to its duration counters for successful requests only.
    done = inc.success

    def per_request(us: float) -> float | None:
        return None if done == 0 else us / done / 1000.0

    return Rates(
        seconds=seconds,
        requests_per_second=inc.requests / seconds,
        failures_per_second=inc.failure / seconds,
        inferences_per_second=inc.inferences / seconds,
        executions_per_second=inc.executions / seconds,
        inflight=inc.request_us / 1e6 / seconds,
        queued=inc.queue_us / 1e6 / seconds,
        queue_ms=per_request(inc.queue_us),
        request_ms=per_request(inc.request_us),
        compute_ms=per_request(inc.compute_us),
    )


__all__ = ["Fetch", "Rates", "ScrapeError", "TritonMetrics", "delta", "http_fetch", "increase", "metrics_url",
           "parse", "scrape"]
