"""Judging one analysis interval of a new revision, from Triton's own counters (pure).

The canary is held to absolute thresholds (error ratio, p99 latency) and to
the stable revision serving beside it (mean latency at most a factor above).
Too little traffic is no evidence either way: the interval is inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..api import AnalysisFigures
from ..api.base import duration_seconds
from ..api.policies import Analysis

Outcome = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Window:
    """One revision's requests over an interval, summed over its pods (counter deltas)."""

    requests: float = 0.0  # successes + failures
    failures: float = 0.0
    request_us: float = 0.0  # summed request durations
    queue_us: float = 0.0
    p99_us: float | None = None  # the worst pod's p99 over Triton's summary window

    @property
    def error_ratio(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def mean_ms(self) -> float | None:
        successes = self.requests - self.failures
        return self.request_us / successes / 1000 if successes > 0 else None

    @property
    def queue_ms(self) -> float | None:
        return self.queue_us / self.requests / 1000 if self.requests else None


@dataclass(frozen=True)
class IntervalVerdict:
    ended: float  # epoch seconds
    outcome: Outcome
    reason: str
    figures: AnalysisFigures


def judge(canary: Window, stable: Window | None, settings: Analysis, ended: float) -> IntervalVerdict:
    figures = AnalysisFigures(
        requests=int(canary.requests),
        error_ratio=_round(canary.error_ratio, 4),
        mean_latency_ms=_round(canary.mean_ms, 2),
        p99_latency_ms=_round(None if canary.p99_us is None else canary.p99_us / 1000, 2),
        stable_mean_latency_ms=_round(stable.mean_ms if stable else None, 2),
        queue_ms=_round(canary.queue_ms, 2),
    )

    def verdict(outcome: Outcome, reason: str) -> IntervalVerdict:
        return IntervalVerdict(ended, outcome, reason, figures)

    if canary.requests < settings.min_requests:
        return verdict("inconclusive", f"{int(canary.requests)} requests < minRequests {settings.min_requests}")
    ratio = canary.error_ratio or 0.0
    if ratio > settings.max_error_ratio:
        return verdict("fail", f"error ratio {ratio:.3f} > maxErrorRatio {settings.max_error_ratio}")
    if settings.max_p99_latency and canary.p99_us is not None:
        limit_ms = duration_seconds(settings.max_p99_latency) * 1000
        if canary.p99_us / 1000 > limit_ms:
            return verdict("fail", f"p99 latency {canary.p99_us / 1000:.1f}ms > maxP99Latency "
                                   f"{settings.max_p99_latency}")
    factor = settings.max_latency_increase
    if factor and stable is not None and stable.requests >= settings.min_requests and canary.mean_ms and stable.mean_ms:
        margin_ms = duration_seconds(settings.latency_margin) * 1000
        if canary.mean_ms > stable.mean_ms * factor and canary.mean_ms - stable.mean_ms > margin_ms:
            return verdict("fail", f"mean latency {canary.mean_ms:.1f}ms > {factor}× the stable's "
                                   f"{stable.mean_ms:.1f}ms")
    return verdict("pass", f"{int(canary.requests)} requests within thresholds")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
