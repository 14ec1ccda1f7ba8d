"""The kubelet of the harness's one node: a pod worker for every pod bound to it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..api import Api
from ..informer import Informer
from .images import Image
from .pod_worker import PodWorker


class Kubelet:
    def __init__(self, api: Api, pods: Informer, *, node: str, root: Path, host_ip: str,
                 pod_ip: Callable[[], str], images: dict[str, Image], claims: dict[str, Path],
                 backoff: Callable[[int], float], marker: str):
        self._api, self._pods, self._node, self._root = api, pods, node, root
        self._host_ip, self._pod_ip, self._images, self._claims = host_ip, pod_ip, images, claims
        self._backoff, self._marker = backoff, marker
        self.workers: dict[str, PodWorker] = {}  # by pod uid
        self._lock = threading.Lock()

    def sync(self) -> None:
        with self._lock:
            present = {}
            for pod in self._pods.items():
                if (pod.get("spec") or {}).get("nodeName") != self._node:
                    continue
                uid = pod["metadata"]["uid"]
                present[uid] = pod
                worker = self.workers.get(uid)
                if worker is not None:
                    worker.update(pod)
                elif (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    worker = PodWorker(pod, api=self._api, root=self._root, ip=self._pod_ip(), host_ip=self._host_ip,
                                       images=self._images, claims=self._claims, backoff=self._backoff,
                                       marker=self._marker)
                    self.workers[uid] = worker
                    worker.update(pod)
                    worker.start()
            for uid, worker in self.workers.items():
                if uid not in present and not worker.done.is_set():
                    worker.removed()
            # A finished worker is kept (done) while its pod is still listed, so it is never started again.
            self.workers = {uid: w for uid, w in self.workers.items() if uid in present or not w.done.is_set()}

    def worker(self, namespace: str, name: str) -> PodWorker | None:
        with self._lock:
            return next((w for w in self.workers.values() if (w.namespace, w.name) == (namespace, name)), None)

    def shutdown(self) -> None:
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join(15)
