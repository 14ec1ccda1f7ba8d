"""One pod on the node, from bound to gone: the kubelet's pod worker.

Sandbox (address, volume folders), init containers one after another, then
the app containers with their probes; status written through the API after
every change. On deletion: every container stopped within the pod's grace
period (preStop first), the terminal phase reported, then the pod object is
removed with a DELETE of grace 0, as the kubelet does, and its folders go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..api import Api, ApiError, resource_path
from ..objects import now
from .images import Image, find_image
from .launch import Launch, build_launch
from .runner import ContainerRunner
from .sandbox import MountError, Sandbox
from .status import pod_phase, pod_status

log = logging.getLogger("harness.kubelet")
PODS = "v1/pods"


class PodWorker:
    def __init__(self, pod: dict, *, api: Api, root: Path, ip: str, host_ip: str, images: dict[str, Image],
                 claims: dict[str, Path], backoff: Callable[[int], float], marker: str):
        self.pod = pod
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.ip, self.host_ip = ip, host_ip
        self._api, self._images, self._claims, self._backoff, self._marker = api, images, claims, backoff, marker
        self.sandbox = Sandbox(root / f"{self.namespace}_{self.name}_{self.uid[:8]}")
        spec = pod.get("spec") or {}
        self.restart_policy = spec.get("restartPolicy", "Always")
        has_init = bool(spec.get("initContainers"))
        self.init = [ContainerRunner(self, c, "PodInitializing") for c in spec.get("initContainers") or []]
        self.apps = [ContainerRunner(self, c, "PodInitializing" if has_init else "ContainerCreating")
                     for c in spec.get("containers") or []]
        self.terminating = threading.Event()
        self.hurry = threading.Event()
        self.done = threading.Event()
        self._gone = False  # the API object was removed under us (force deletion)
        self._grace: float | None = None
        self._initialized = self._failed = self._sandbox_ready = False
        self._start_time = now()
        self._published: dict | None = None
        self._publish_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"pod {self.name}", daemon=True)

    # -- from the kubelet ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def update(self, pod: dict) -> None:
        before = _gate_conditions(self.pod)
        self.pod = pod
        if _gate_conditions(pod) != before and self._published:
            # Another controller set a readiness gate's condition: Ready follows (off the informer's thread).
            threading.Thread(target=self.publish, name=f"gate-{self.name}", daemon=True).start()
        if pod["metadata"].get("deletionTimestamp") and not self.terminating.is_set():
            self._grace = float(pod["metadata"].get("deletionGracePeriodSeconds", self.grace_seconds()))
            self.terminating.set()

    def removed(self) -> None:
        """The pod object is gone (deleted with grace 0): stop at once."""
        self._gone = True
        self._grace = 0.0
        self.terminating.set()

    def shutdown(self) -> None:
        """The harness ends: no preStop, a short grace, nothing left behind."""
        self._grace = min(self._grace if self._grace is not None else 2.0, 2.0)
        self.hurry.set()
        self.terminating.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    # -- for the containers (runner.Pod) ---------------------------------------------------------------

    def launch(self, container: dict) -> Launch:
        image = find_image(self._images, container.get("image", ""))
        fs = image.filesystem(self.sandbox.scratch(container["name"]), self.ip)
        # The kubelet knows its pod's address before the API shows it (downward API: status.podIP).
        pod = {**self.pod, "status": {**(self.pod.get("status") or {}), "podIP": self.ip}}
        return build_launch(pod, container, fs, self.sandbox, self._lookup, host_ip=self.host_ip,
                            marker=f"{self._marker}:{self.namespace}/{self.name}")

    def log_path(self, container: str, restart: int) -> Path:
        folder = self.sandbox.root / "logs" / container
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{restart}.log"

    def termination_log(self, container: str) -> Path:
        return self.sandbox.termination_log(container)

    def backoff_seconds(self, failures: int) -> float:
        return self._backoff(failures)

    def grace_seconds(self) -> float:
        return float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    def describe(self) -> str:
        return f"{self.name}_{self.namespace}({self.uid})"

    def publish(self) -> None:
        """Write the status when it changed (one writer per pod, in order)."""
        with self._publish_lock:
            if self._gone:
                return
            init = [r.status(init=True) for r in self.init]
            apps = [r.status(init=False) for r in self.apps]
            phase = pod_phase(init, apps, self._initialized, self.restart_policy, self._failed)
            gates = [g.get("conditionType") for g in (self.pod.get("spec") or {}).get("readinessGates") or []]
            for _ in range(5):
                # The status manager's rule: start from the pod as the API has it now, so conditions that
                # other controllers own (readiness gates) are kept, and write only over that version.
                try:
                    current = self._api.get(resource_path(PODS, self.namespace, self.name)) if self._published \
                        else self.pod
                except Exception as err:  # noqa: BLE001 - the server stopped: nothing to report to
                    log.debug("status of %s not read: %s", self.name, err)
                    return
                if current is None:
                    return
                status = pod_status(current.get("status") or {}, phase=phase, pod_ip=self.ip, host_ip=self.host_ip,
                                    start_time=self._start_time, sandbox_ready=self._sandbox_ready, init=init,
                                    containers=apps, initialized=self._initialized, gates=gates)
                if status == (current.get("status") or {}) and self._published:
                    return
                patch = {"metadata": {"resourceVersion": current["metadata"].get("resourceVersion")},
                         "status": status}
                try:
                    self._api.patch(PODS, self.namespace, self.name, patch, subresource="status")
                    self._published = status
                    return
                except ApiError as err:
                    if err.status != 409:
                        log.debug("status of %s not written: %s", self.name, err)
                        return
                except Exception as err:  # noqa: BLE001 - gone meanwhile, or the server stopped
                    log.debug("status of %s not written: %s", self.name, err)
                    return

    # -- the pod's life --------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.publish()
            if self._mount():
                self._sandbox_ready = True
                self.publish()
                if all(runner.run_to_completion() for runner in self.init):
                    self._initialized = True
                    for runner in self.apps:
                        runner.start()
                elif not self.terminating.is_set():
                    self._failed = True  # restartPolicy Never and an init container failed
                self.publish()
            self.terminating.wait()
            self._stop_containers()
            self._finish()
        except Exception:  # noqa: BLE001 - a broken worker must still clean up after itself
            log.exception("pod %s failed in the harness", self.name)
            self._stop_containers()
        finally:
            self.sandbox.remove()
            self.done.set()

    def _mount(self) -> bool:
        """Set up the volumes, retrying while what they need is missing (FailedMount)."""
        while not self.terminating.is_set():
            try:
                self.sandbox.mount(self.pod, self._lookup, self._claims)
                return True
            except MountError as err:
                log.info("pod %s: MountVolume.SetUp failed: %s", self.name, err)
                self.terminating.wait(1.0)
        return False

    def _stop_containers(self) -> None:
        grace = self._grace if self._grace is not None else self.grace_seconds()
        deadline = time.monotonic() + grace
        stoppers = [threading.Thread(target=r.stop, args=(deadline, not self.hurry.is_set() and not self._gone),
                                     daemon=True) for r in self.init + self.apps]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for runner in self.apps:
            runner.join(5)

    def _finish(self) -> None:
        if self._gone:
            return
        # The terminal phase of a deleted pod: Succeeded only when every app container exited 0.
        codes = [r.state.get("terminated", {}).get("exitCode", 1) for r in self.apps]
        self._failed = self._failed or not self._initialized or any(codes)
        self.publish()
        try:
            self._api.delete(PODS, self.namespace, self.name, grace_seconds=0)
        except Exception as err:  # noqa: BLE001 - already gone
            log.debug("final delete of %s: %s", self.name, err)

    def _lookup(self, kind: str, namespace: str, name: str) -> dict | None:
        return self._api.get(resource_path(f"v1/{kind}", namespace, name))


def _gate_conditions(pod: dict) -> list:
    gates = {g.get("conditionType") for g in (pod.get("spec") or {}).get("readinessGates") or []}
    return [(c.get("type"), c.get("status")) for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") in gates]
