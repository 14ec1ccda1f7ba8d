"""Scrape the ready pods of one target at once; failures are reported per pod, never as zeros."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..clients.triton_metrics import Fetch, ScrapeError, http_fetch, scrape
from .decide import PodSample, Samples
from .targets import Target


class Scraper:
    def __init__(self, fetch: Fetch = http_fetch, *, timeout: float = 1.0, workers: int = 8):
        self._fetch = fetch
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="triton-scrape")

    def samples(self, target: Target) -> Samples:
        return Samples(target.asked, tuple(self._pool.map(lambda p: self._sample(target, p), target.pods)))

    def _sample(self, target: Target, pod) -> PodSample:
        if not pod.pod.ready:
            return PodSample(pod.pod)
        if not pod.ip:
            return PodSample(pod.pod, error="no pod IP")
        try:
            return PodSample(pod.pod, scrape(pod.ip, target.model, fetch=self._fetch, timeout=self._timeout))
        except ScrapeError as err:
            return PodSample(pod.pod, error=str(err))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
