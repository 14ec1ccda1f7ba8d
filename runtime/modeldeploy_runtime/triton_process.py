"""Run a real tritonserver locally: the one bundled with nvidia-pytriton.

The python backend needs the stub built for the running Python beside
libtriton_python.so, so the backends are copied to a private folder with that
stub added; site-packages is never written to.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import tritonclient.http as triton_http

from .errors import ExitCode, RuntimeFailure


def triton_home() -> Path:
    if not sys.platform.startswith("linux"):
        raise RuntimeFailure(ExitCode.TRITON_UNAVAILABLE,
                             f"local Triton runs on Linux x86-64 only (this is {sys.platform}); use a cluster, "
                             "or a Linux machine or container")
    try:
        import pytriton  # noqa: PLC0415 - optional: only local serving needs it
    except ImportError:
        raise RuntimeFailure(ExitCode.TRITON_UNAVAILABLE,
                             "no local Triton: install it with  pip install 'modeldeploy[serve]'") from None
    home = Path(pytriton.__file__).parent / "tritonserver"
    if not (home / "bin" / "tritonserver").is_file():
        raise RuntimeFailure(ExitCode.TRITON_UNAVAILABLE, f"tritonserver binary missing under {home}")
    return home


def prepare_backends(home: Path, into: Path) -> Path:
    """A backend folder whose python backend has the stub of this Python."""
    stub = home / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}" / \
        "triton_python_backend_stub"
    if not stub.is_file():
        raise RuntimeFailure(ExitCode.TRITON_UNAVAILABLE, f"no python backend stub for Python "
                                                           f"{sys.version_info.major}.{sys.version_info.minor}")
    backends = into / "backends"
    if not (backends / "python" / "triton_python_backend_stub").is_file():
        shutil.rmtree(backends, ignore_errors=True)
        shutil.copytree(home / "backends", backends)
        shutil.copy2(stub, backends / "python" / "triton_python_backend_stub")
    return backends


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int, address: str = "127.0.0.1") -> bool:
    """Whether a server could listen on address:port now (a socket in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Triton binds: lingering sockets allowed
        try:
            s.bind((address, port))
        except OSError:
            return False
        return True


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process pid holds the listening TCP socket of port; None where /proc cannot tell."""
    inodes = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as rows:
                for row in list(rows)[1:]:
                    fields = row.split()
                    # local address is HEXIP:HEXPORT; state 0A is LISTEN.
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                        inodes.add(fields[9])
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, ValueError, IndexError):
        return None
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


@dataclass
class TritonProcess:
    process: subprocess.Popen
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def failure(self) -> str:
        """One line for a server that failed: a model's own load error, else Triton's first error, and the log."""
        try:
            log = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            log = []
        messages = [_log_message(line) for line in log if line.startswith("E") or line.startswith("error:")]
        messages = [m for m in messages if m and "CudaDriverHelper" not in m]
        loaded = next((m for m in map(_LOAD_FAILED.search, messages) if m), None)
        if loaded:
            reason = f"model {loaded['model']} version {loaded['version']} failed to load: {_reason(loaded['reason'])}"
        else:
            reason = _reason(messages[0]) if messages else "no error in its log"
        return f"{reason} (Triton's log: {self.log_path})"

    def wait_model_ready(self, model: str, version: str, timeout_seconds: float) -> float:
        """Seconds until this model version reports ready; fails if Triton exits first."""
        start = time.monotonic()
        client = triton_http.InferenceServerClient(self.http_url, connection_timeout=2.0, network_timeout=2.0)
        try:
            while time.monotonic() - start < timeout_seconds:
                if self.process.poll() is not None:
                    raise RuntimeFailure(ExitCode.TRITON_FAILED,
                                         f"tritonserver exited with code {self.process.returncode}: {self.failure()}")
                try:
                    ready = client.is_model_ready(model, version)
                except Exception:  # noqa: BLE001 - not listening yet
                    ready = False
                # Only our own server's answer counts: another one on the port may serve this model too.
                if ready and self._answered_by_us():
                    return time.monotonic() - start
                time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeFailure(ExitCode.TRITON_FAILED, f"model {model} version {version} not ready after "
                                                     f"{timeout_seconds:.0f}s: {self.failure()}")

    def _answered_by_us(self) -> bool:
        if self.process.poll() is not None:
            return False  # the loop's next turn reports the exit and the log
        ours = listens_on(self.process.pid, self.http_port)
        if ours is False:
            raise RuntimeFailure(ExitCode.TRITON_FAILED, f"another server answers on 127.0.0.1:{self.http_port}, "
                                                         "not the tritonserver started here; stop it or choose "
                                                         "another --http-port")
        return True

    def stop(self, grace_seconds: float = 10.0) -> int:
        """SIGTERM the server's process group (python stubs included), then SIGKILL."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


# Triton's own words for a model that did not load; the reason runs to the end of the message.
_LOAD_FAILED = re.compile(r"failed to load '(?P<model>[^']*)' version (?P<version>\S+): (?P<reason>.*)", re.DOTALL)
# What the reason carries besides the model's words: Triton's status code, the python exception's class.
_WRAPPING = re.compile(r"^(?:(?:Internal|Invalid argument|Unavailable|Not found): )?(?:\w+(?:Error|Exception): )?")


def _log_message(line: str) -> str:
    """The message of one glog line (`E1126 05:01:45.134519 16736 file.cc:642] "..."`), its escapes undone."""
    message = line.split("] ", 1)[1] if line.startswith("E") and "] " in line else line
    if len(message) > 1 and message.startswith('"') and message.endswith('"'):
        try:
            return json.loads(message)
        except ValueError:
            return message[1:-1]
    return message


def _reason(message: str) -> str:
    """One line of a reason: no python `At:` trace, no status prefix, newlines as spaces."""
    reason = message.split("\n\nAt:", 1)[0]
    return " ".join(_WRAPPING.sub("", reason.strip()).split())


def _before_exec(cpus: set[int] | None) -> Callable[[], None]:
    """What the child does between fork and exec: die with its parent, run on cpus."""
    prctl = _prctl()
    parent = os.getpid()

    def prepare() -> None:
        # Triton is in its own session (so Ctrl-C reaches it only through stop()), which also means
        # nothing stops it when `modeldeploy serve` is SIGKILLed or crashes: it would keep the ports and
        # the model. The kernel sends SIGTERM (Triton's clean exit, which removes the python backend's
        # shared memory) when the thread that started it dies; serve starts it from its main thread.
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
        if cpus:
            # Set before exec, so every thread and backend stub Triton starts inherits it.
            os.sched_setaffinity(0, cpus)
    return prepare


_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up before the fork (a forked child should not load libraries); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def triton_env(base: dict[str, str]) -> dict[str, str]:
    """`base` with what nvidia-pytriton's tritonserver and its python backend stub need to run."""
    from pytriton.utils.distribution import get_libs_path  # noqa: PLC0415 - the wheel's own bundled libraries

    env = dict(base)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (env.get("LD_LIBRARY_PATH"), str(get_libs_path())) if p)
    # The python backend's stub imports the model's packages (torch, numpy)
    # from this interpreter's environment.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH")) if p)
    return env


def start_triton(args: list[str], workdir: Path, log_path: Path, ports: tuple[int, int, int],
                 cpus: set[int] | None = None) -> TritonProcess:
    home = triton_home()
    backends = prepare_backends(home, workdir)
    env = triton_env(dict(os.environ))
    log = log_path.open("ab")
    try:
        process = subprocess.Popen(
            [str(home / "bin" / "tritonserver"), f"--backend-directory={backends}", *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            preexec_fn=_before_exec(cpus),
        )
    finally:
        log.close()
    return TritonProcess(process, *ports, log_path=log_path)
