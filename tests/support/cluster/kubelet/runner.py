"""One container of a pod: its process, probes, restarts and graceful stop, reported as containerStatuses.

The process runs in its own process group (a container's cgroup stands in):
whatever it started dies with it. Exits follow restartPolicy with the
kubelet's crash-loop back-off (state CrashLoopBackOff, lastState terminated
with exitCode, reason and the termination message, restartCount); a failed
liveness or startup probe restarts it. Stopping runs the preStop hook (sleep,
exec or httpGet) within the grace period, then SIGTERM to the group, then
SIGKILL when the grace period is over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..objects import now
from .environment import ConfigError
from .images import UnknownImage
from .launch import Launch, StartError
from .probes import Prober, ProbeSpec, http_get, probe_check

BACKOFF_RESET_SECONDS = 600  # a container that ran this long starts its back-off afresh, as on a kubelet
PRESTOP_OVERRUN_SECONDS = 2  # the kubelet's one-off extension when preStop used up the grace period


class Pod(Protocol):
    """What a container needs of its pod worker."""

    ip: str
    terminating: threading.Event
    hurry: threading.Event  # set when the harness shuts down: preStop sleeps end at once
    restart_policy: str

    def launch(self, container: dict) -> Launch: ...
    def publish(self) -> None: ...
    def log_path(self, container: str, restart: int) -> Path: ...
    def termination_log(self, container: str) -> Path: ...
    def backoff_seconds(self, failures: int) -> float: ...
    def grace_seconds(self) -> float: ...
    def describe(self) -> str: ...


def signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def termination_message(spec: dict, term_log: Path, log: Path, exit_code: int) -> str | None:
    try:
        text = term_log.read_bytes()[:4096].decode(errors="replace")
    except OSError:
        text = ""
    if not text.strip() and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError" and exit_code != 0:
        try:
            text = "\n".join(log.read_text(errors="replace").splitlines()[-80:])[-2048:]
        except OSError:
            text = ""
    return text or None


class ContainerRunner:
    def __init__(self, pod: Pod, spec: dict, waiting_reason: str):
        self.pod, self.spec, self.name = pod, spec, spec["name"]
        self.restart_count = 0
        self.state: dict = {"waiting": {"reason": waiting_reason}}
        self.last_state: dict = {}
        self.ready = self.started = False
        self.container_id: str | None = None
        self._process: subprocess.Popen | None = None
        self._process_lock = threading.Lock()
        self._failures = 0
        self._probers: list[Prober] = []
        self._thread: threading.Thread | None = None

    def status(self, init: bool) -> dict:
        status = {"name": self.name, "image": self.spec.get("image", ""),
                  "imageID": f"harness://{self.spec.get('image', '')}", "ready": self.ready,
                  "restartCount": self.restart_count, "state": self.state, "lastState": self.last_state}
        if not init:
            status["started"] = self.started
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    # -- init containers: run to completion ----------------------------------------------------------

    def run_to_completion(self) -> bool:
        """True once the container exited 0; False when the pod is being deleted or failed for good."""
        while not self.pod.terminating.is_set():
            code = self._run_once(probed=False)
            if code == 0:
                return True
            if self.pod.restart_policy == "Never" and code is not None:
                return False
            if not self._back_off(crashed=code is not None):
                return False
        return False

    # -- app containers: run, probe, restart -----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=f"container {self.name}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    def _serve(self) -> None:
        policy = self.pod.restart_policy
        while not self.pod.terminating.is_set():
            code = self._run_once(probed=True)
            if self.pod.terminating.is_set() or (code is not None and (
                    policy == "Never" or (policy == "OnFailure" and code == 0))):
                return
            if not self._back_off(crashed=code is not None):
                return

    # -- one run ---------------------------------------------------------------------------------------

    def _run_once(self, probed: bool) -> int | None:
        """The exit code of one run; None when no process could be created (state says why)."""
        try:
            launch = self.pod.launch(self.spec)
        except UnknownImage as err:
            pulled_before = (self.state.get("waiting") or {}).get("reason") in ("ErrImagePull", "ImagePullBackOff")
            return self._wait_reason("ImagePullBackOff" if pulled_before else "ErrImagePull", str(err))
        except ConfigError as err:
            return self._wait_reason("CreateContainerConfigError", str(err))
        except StartError as err:
            return self._finished(128, "StartError", str(err), now())
        log = self.pod.log_path(self.name, self.restart_count)
        term_log = self.pod.termination_log(self.name)
        term_log.write_bytes(b"")
        with self._process_lock:
            if self.pod.terminating.is_set():
                return None
            try:
                with log.open("ab") as out:
                    process = subprocess.Popen(launch.argv, env=launch.env, cwd=launch.cwd, stdout=out,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               start_new_session=True)
            except OSError as err:  # e.g. a working directory that does not exist
                return self._finished(128, "StartError", f"failed to start {launch.argv[0]}: {err}", now())
            self._process = process
        started_at, started = now(), time.monotonic()
        self.container_id = f"harness://{process.pid}"
        self.state = {"running": {"startedAt": started_at}}
        self.started = not (probed and self.spec.get("startupProbe"))
        self.ready = probed and self.started and not self.spec.get("readinessProbe")
        if probed:
            self._start_probes()
        self.pod.publish()
        code = process.wait()
        signal_group(process, signal.SIGKILL)  # nothing of a container outlives its main process
        for prober in self._probers:
            prober.stop()
        self._probers = []
        if time.monotonic() - started > BACKOFF_RESET_SECONDS:
            self._failures = 0
        exit_code = code if code >= 0 else 128 - code
        return self._finished(exit_code, "Completed" if exit_code == 0 else "Error",
                              termination_message(self.spec, term_log, log, exit_code), started_at)

    def _finished(self, exit_code: int, reason: str, message: str | None, started_at: str) -> int:
        terminated = {"exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": now()}
        if message:
            terminated["message"] = message
        if self.container_id:
            terminated["containerID"] = self.container_id
        self.state, self.ready, self.started = {"terminated": terminated}, False, False
        self.pod.publish()
        return exit_code

    def _wait_reason(self, reason: str, message: str) -> None:
        self.state = {"waiting": {"reason": reason, "message": message}}
        self.pod.publish()
        return None

    def _back_off(self, crashed: bool) -> bool:
        """Wait out the back-off before the next try; False when the pod is deleted meanwhile."""
        delay = self.pod.backoff_seconds(self._failures)
        self._failures += 1
        if crashed and delay > 0:
            # The exit stays visible until the kubelet's next sync, then the container waits in CrashLoopBackOff.
            shown = min(1.0, delay)
            if self.pod.terminating.wait(shown):
                return False
            self.last_state = self.state
            self.state = {"waiting": {"reason": "CrashLoopBackOff", "message": (
                f"back-off {delay:g}s restarting failed container={self.name} pod={self.pod.describe()}")}}
            self.pod.publish()
            delay -= shown
        if self.pod.terminating.wait(delay):
            return False
        if crashed:
            if "terminated" in self.state:  # restarted at once: this exit becomes the last state
                self.last_state = self.state
            self.restart_count += 1
        return True

    # -- probes ----------------------------------------------------------------------------------------

    def _start_probes(self) -> None:
        def make(kind: str, on_result: Callable[[bool], None], gate: Callable[[], bool]) -> None:
            probe = self.spec.get(f"{kind}Probe")
            if probe:
                self._probers.append(Prober(ProbeSpec.of(kind, probe),
                                            probe_check(probe, self.pod.ip, self.spec, self.exec),
                                            on_result, gate))
        make("startup", self._on_startup, lambda: True)
        make("liveness", self._on_failure_restart("liveness"), lambda: self.started)
        make("readiness", self._on_readiness, lambda: self.started)
        for prober in self._probers:
            prober.start()

    def _on_startup(self, ok: bool) -> None:
        if not ok:
            return self._on_failure_restart("startup")(False)
        self.started = True
        self.ready = not self.spec.get("readinessProbe")
        self.pod.publish()
        for prober in self._probers:
            if prober.spec.kind == "readiness":
                prober.trigger()  # as the kubelet does once a container has started

    def _on_readiness(self, ok: bool) -> None:
        self.ready = ok and "running" in self.state
        self.pod.publish()

    def _on_failure_restart(self, kind: str) -> Callable[[bool], None]:
        def restart(ok: bool) -> None:
            if not ok:
                deadline = time.monotonic() + self.pod.grace_seconds()
                threading.Thread(target=self.stop, args=(deadline, True), name=f"{kind} kill", daemon=True).start()
        return restart

    def exec(self, command: list[str], timeout: float) -> int:
        """Run a command in this container's context (exec probes, preStop exec); its exit code, -1 on timeout."""
        try:
            launch = self.pod.launch({**self.spec, "command": command, "args": []})
        except (ConfigError, UnknownImage, StartError):
            return 127
        process = subprocess.Popen(launch.argv, env=launch.env, cwd=launch.cwd, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            return -1
        finally:
            signal_group(process, signal.SIGKILL)
            process.wait()

    # -- stop ------------------------------------------------------------------------------------------

    def stop(self, deadline: float, pre_stop: bool) -> None:
        """preStop, SIGTERM, SIGKILL at the deadline (time.monotonic())."""
        with self._process_lock:
            process = self._process
        if process is None or process.poll() is not None:
            return
        hook = (self.spec.get("lifecycle") or {}).get("preStop") if pre_stop else None
        if hook:
            self._pre_stop(hook, deadline)
        signal_group(process, signal.SIGTERM)
        remaining = max(deadline - time.monotonic(), PRESTOP_OVERRUN_SECONDS if hook else 0.0)
        try:
            process.wait(remaining)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait()

    def _pre_stop(self, hook: dict, deadline: float) -> None:
        remaining = max(deadline - time.monotonic(), 0.0)
        if "sleep" in hook:
            self.pod.hurry.wait(min(float(hook["sleep"]["seconds"]), remaining))
        elif "exec" in hook:
            self.exec(hook["exec"]["command"], remaining)
        elif "httpGet" in hook:
            http_get(hook["httpGet"], self.pod.ip, self.spec, remaining)
