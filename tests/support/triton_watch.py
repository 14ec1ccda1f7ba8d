"""A test's own reading of one Triton pod's counters, a few times a second: when did its queue cross a target."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable

from modeldeploy.clients.triton_metrics import ScrapeError, TritonMetrics

from .cluster.polling import Poller


class QueueWatch(Poller):
    """`read` returns the pod's figures for the model (a direct scrape, or through the API server's pod proxy);
    a read that fails is skipped."""

    def __init__(self, read: Callable[[], TritonMetrics], every: float = 0.1):
        super().__init__(every)
        self.read = read
        self.samples: list[tuple[float, TritonMetrics]] = []  # (time.monotonic(), figures)

    def poll(self) -> None:
        with contextlib.suppress(ScrapeError):
            self.samples.append((time.monotonic(), self.read()))

    def crossing(self, target_ms: float, after: float) -> float | None:
        """When the queue went over target: the start of the first interval after `after` whose completed
        requests waited longer than the target on average (the earliest moment the interval allows)."""
        for (t0, a), (_, b) in itertools.pairwise(list(self.samples)):
            done = b.success - a.success
            if t0 >= after and done > 0 and (b.queue_us - a.queue_us) / done / 1000 > target_ms:
                return t0
        return None

    def queue_ms(self, start: float, end: float) -> float | None:
        """Average queue time of the requests completed between start and end."""
        inside = [m for t, m in list(self.samples) if start <= t <= end]
        if len(inside) < 2 or inside[-1].success == inside[0].success:
            return None
        return (inside[-1].queue_us - inside[0].queue_us) / (inside[-1].success - inside[0].success) / 1000
