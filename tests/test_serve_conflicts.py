"""`modeldeploy serve` where something else is already there: a busy port, another serve's work folder.

A server already answering on the port must not be taken for ours ("ready",
then exit 21); a second serve must not delete the first one's repository.
"""

from __future__ import annotations

import fcntl
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from modeldeploy.api import parse_model_deployment
from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.serve import default_workdir
from modeldeploy_runtime.triton_process import TritonProcess, listens_on

from test_cli_messages import modeldeploy

from conftest import REPO

pytestmark = pytest.mark.unit

QUICKSTART = str(REPO / "examples" / "quickstart.yaml")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _one_line(proc: subprocess.CompletedProcess) -> str:
    """The failure's line: all stderr holds besides serve's progress line."""
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("serving ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("flag", ["--http-port", "--grpc-port", "--metrics-port"])
def test_a_busy_port_is_refused_before_triton_starts(busy_port: int, flag: str, tmp_path: Path) -> None:
    proc = modeldeploy("serve", "-f", QUICKSTART, flag, str(busy_port), "--workdir", str(tmp_path / "w"))
    assert proc.returncode == ExitCode.USAGE
    line = _one_line(proc)
    assert line.startswith(f"USAGE: {flag} {busy_port}: 127.0.0.1:{busy_port} is already in use"), line
    assert "ready" not in proc.stdout and not (tmp_path / "w" / "triton.log").exists()


def test_one_port_for_two_endpoints_is_refused(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    proc = modeldeploy("serve", "-f", QUICKSTART, "--http-port", port, "--grpc-port", port)
    assert proc.returncode == ExitCode.USAGE
    assert _one_line(proc) == f"USAGE: --grpc-port {port}: --http-port has the same port; give each its own"


@pytest.mark.parametrize("value", ["99999", "0", "-1", "http"])
def test_a_port_outside_1_to_65535_is_a_usage_error(value: str) -> None:
    proc = modeldeploy("serve", "-f", QUICKSTART, f"--http-port={value}")
    assert proc.returncode == 2
    assert "argument --http-port: " in proc.stderr.splitlines()[-1]
    assert "TCP port" in proc.stderr.splitlines()[-1]


def test_a_second_serve_in_the_same_work_folder_is_refused(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "repository" / "keep").mkdir(parents=True)
    with (workdir / ".serve.lock").open("a+") as lock:  # held as a running serve holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        proc = modeldeploy("serve", "-f", QUICKSTART, "--workdir", str(workdir))
    assert proc.returncode == ExitCode.USAGE
    assert _one_line(proc) == (f"USAGE: {workdir} is in use by another modeldeploy serve (pid {os.getpid()}); "
                               "stop it, or give this one its own --workdir")
    assert (workdir / "repository" / "keep").is_dir(), "the running serve's repository was touched"


def test_two_checkouts_of_one_example_get_their_own_work_folders(tmp_path: Path) -> None:
    md = parse_model_deployment(yaml.safe_load(Path(QUICKSTART).read_text()))
    here, there = default_workdir(md, REPO / "examples"), default_workdir(md, tmp_path)
    assert here != there and here.parent == there.parent
    assert default_workdir(md, REPO / "examples") == here, "the same file: the same folder, and its lock"


class _ReadyForAnything(http.server.BaseHTTPRequestHandler):
    """Another server on the port: says every model is ready."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib hook
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_readiness_answered_by_another_server_is_not_ours(tmp_path: Path) -> None:
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ReadyForAnything)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    port = other.server_address[1]
    try:
        triton = TritonProcess(ours, port, port + 1, port + 2, tmp_path / "triton.log")
        with pytest.raises(RuntimeFailure) as caught:
            triton.wait_model_ready("quickstart", "1", timeout_seconds=10)
        assert caught.value.code == ExitCode.TRITON_FAILED
        assert caught.value.reason.startswith(f"another server answers on 127.0.0.1:{port}, not the tritonserver")
        assert listens_on(os.getpid(), port) is True and listens_on(ours.pid, port) is False
    finally:
        ours.kill()
        ours.wait()
        other.shutdown()
        other.server_close()
