"""Local serving through a real Triton server (nvidia-pytriton's tritonserver, CPU)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import ADMIN_HEADER
from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.infer import example_inputs, infer
from modeldeploy_runtime.serve import LocalServer, ServeOptions, serving
from modeldeploy_runtime.triton_statistics import read_statistics
from support.quickstart import make_quickstart

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_quickstart(tmp_path_factory.mktemp("quickstart"))


@pytest.fixture(scope="module")
def server(quickstart: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    md = parse_model_deployment(yaml.safe_load(quickstart.read_text()))
    with serving(md, quickstart.parent, ServeOptions(workdir=tmp_path_factory.mktemp("work"))) as running:
        yield running


def _reference(quickstart: Path, batch: np.ndarray) -> np.ndarray:
    model = torch.jit.load(str(quickstart.parent / "models/quickstart/model.pt"))
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).numpy()


def test_http_and_grpc_answer_with_the_models_own_result(server: LocalServer, quickstart: Path) -> None:
    batch = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    expected = _reference(quickstart, batch)
    for protocol, url in (("http", server.http_url), ("grpc", server.grpc_url)):
        out = infer(server.md, url, {"INPUT__0": batch}, protocol=protocol)["OUTPUT__0"]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_readiness_is_per_model_version(server: LocalServer) -> None:
    client = triton_http.InferenceServerClient(server.http_url)
    assert client.is_model_ready("quickstart", "1")
    assert not client.is_model_ready("quickstart", "2")
    assert not client.is_model_ready("no-such-model")


def test_dynamic_batching_merges_concurrent_requests(server: LocalServer) -> None:
    one = example_inputs(server.md)

    def call(_: int) -> None:
        infer(server.md, server.grpc_url, one, protocol="grpc")

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(pool.map(call, range(400)))
    stats = triton_grpc.InferenceServerClient(server.grpc_url).get_inference_statistics("quickstart", as_json=True)
    model_stats = stats["model_stats"][0]
    batch_sizes = {int(b["batch_size"]) for b in model_stats["batch_stats"]}
    assert max(batch_sizes) > 1, f"Triton executed only batch sizes {batch_sizes}"
    assert int(model_stats["execution_count"]) < int(model_stats["inference_count"])


def test_metrics_are_prometheus_text(server: LocalServer) -> None:
    infer(server.md, server.http_url, example_inputs(server.md))
    text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    success = families["nv_inference_request_success"]
    counts = [s.value for s in success.samples if s.labels.get("model") == "quickstart"]
    assert counts and counts[0] >= 1
    assert "nv_inference_queue_duration_us" in families


def test_admin_apis_are_locked_without_the_key(server: LocalServer) -> None:
    url = f"http://{server.http_url}/v2/repository/index"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b"{}"), timeout=10)
    assert refused.value.code in (401, 403)
    allowed = urllib.request.Request(url, method="POST", data=b"{}", headers={ADMIN_HEADER: server.admin_key})
    assert urllib.request.urlopen(allowed, timeout=10).status == 200


def test_model_config_is_readable_while_loading_stays_locked(server: LocalServer) -> None:
    # perf_analyzer, model analyzers and tritonclient read the config before sending; it only reads.
    http = triton_http.InferenceServerClient(server.http_url)
    grpc = triton_grpc.InferenceServerClient(server.grpc_url)
    assert http.get_model_config("quickstart")["input"][0]["name"] == "INPUT__0"
    assert grpc.get_model_config("quickstart").config.max_batch_size == 64
    for client in (http, grpc):
        with pytest.raises(InferenceServerException) as refused:
            client.load_model("quickstart")
        assert "triton-admin-key" in str(refused.value)


def _md_file(tmp_path: Path, quickstart: Path, **model: object) -> Path:
    doc = yaml.safe_load(quickstart.read_text())
    doc["spec"]["model"].update(model)
    path = tmp_path / "md.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_wrong_sha256_serves_nothing(tmp_path: Path, quickstart: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(quickstart.parent / "models"), "quickstart"], check=True)
    path = _md_file(tmp_path, quickstart, uri=f"file://{archive}", sha256="0" * 64)
    proc = subprocess.run([sys.executable, "-m", "modeldeploy.cli", "serve", "-f", str(path), "--once",
                           "--workdir", str(tmp_path / "work")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == ExitCode.CHECKSUM_MISMATCH
    assert "sha256 mismatch" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "work" / "triton.log").exists(), "Triton must not start for an unverified model"


@pytest.mark.parametrize("breakage", ["corrupt-torchscript", "no-python-model", "wrong-format"])
def test_bad_artifacts_are_refused_before_triton(tmp_path: Path, quickstart: Path, breakage: str) -> None:
    model_dir = tmp_path / "bad"
    model_dir.mkdir()
    (model_dir / "model.py").write_text((quickstart.parent / "models/quickstart/model.py").read_text())
    (model_dir / "model.pt").write_bytes((quickstart.parent / "models/quickstart/model.pt").read_bytes())
    fmt = "python"
    if breakage == "corrupt-torchscript":
        (model_dir / "model.pt").write_bytes(b"not a zip at all")
    elif breakage == "no-python-model":
        (model_dir / "model.py").write_text("print('hello')\n")
    else:
        fmt = "torchscript"
    md = parse_model_deployment(yaml.safe_load(_md_file(tmp_path, quickstart, uri=f"file://{model_dir}",
                                                        format=fmt).read_text()))
    with pytest.raises(RuntimeFailure) as caught:
        with serving(md, tmp_path, ServeOptions(workdir=tmp_path / "work")):
            pytest.fail("served a broken model")
    assert caught.value.code in (ExitCode.BAD_ARTIFACT, ExitCode.TRITON_UNAVAILABLE)
    assert not (tmp_path / "work" / "triton.log").exists()


def test_model_that_fails_to_load_is_never_ready(tmp_path: Path, quickstart: Path) -> None:
    model_dir = tmp_path / "broken"
    model_dir.mkdir()
    (model_dir / "model.py").write_text(
        "class TritonPythonModel:\n    def initialize(self, args):\n        raise RuntimeError('weights missing')\n")
    md = parse_model_deployment(yaml.safe_load(_md_file(tmp_path, quickstart, uri=f"file://{model_dir}").read_text()))
    with pytest.raises(RuntimeFailure) as caught:
        with serving(md, tmp_path, ServeOptions(workdir=tmp_path / "work", ready_timeout_seconds=60)):
            pytest.fail("a model that failed to load was reported ready")
    assert caught.value.code == ExitCode.TRITON_FAILED and "weights missing" in caught.value.reason


def _triton_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, quickstart: Path, sig: int) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "modeldeploy.cli", "serve", "-f", str(quickstart),
                             "--workdir", str(tmp_path / "work")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert "is ready" in line, line + proc.stderr.read() if proc.poll() is not None else line
        servers = _triton_children(proc.pid)
        assert servers, "no tritonserver child"
        proc.send_signal(sig)
        assert proc.wait(60) == 0
        time.sleep(0.5)
        for pid in servers:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), \
                f"tritonserver {pid} outlived modeldeploy serve"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)


def test_tritonserver_dies_with_a_killed_serve(tmp_path: Path, quickstart: Path) -> None:
    # SIGKILL runs no handler: only the kernel (PR_SET_PDEATHSIG) can stop Triton, else it keeps ports and model.
    proc = subprocess.Popen([sys.executable, "-m", "modeldeploy.cli", "serve", "-f", str(quickstart),
                             "--workdir", str(tmp_path / "work")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    servers = []
    try:
        line = proc.stdout.readline()
        assert "is ready" in line, line + proc.stderr.read() if proc.poll() is not None else line
        servers = _triton_children(proc.pid)
        assert servers, "no tritonserver child"
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_running(pid) for pid in servers), f"tritonserver {servers} outlived a SIGKILLed serve"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in servers:
            if _running(pid):
                os.killpg(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_clear_error_where_triton_cannot_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             quickstart: Path) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    md = parse_model_deployment(yaml.safe_load(quickstart.read_text()))
    with pytest.raises(RuntimeFailure) as caught:
        with serving(md, quickstart.parent, ServeOptions(workdir=tmp_path / "work")):
            pytest.fail("served where Triton cannot run")
    assert caught.value.code == ExitCode.TRITON_UNAVAILABLE and "Linux x86-64 only" in caught.value.reason


def test_model_config_is_readable_without_the_admin_key(server: LocalServer) -> None:
    """perf_analyzer and Triton's client tools read it to shape requests."""
    url = f"http://{server.http_url}/v2/models/quickstart/config"
    config = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert config["max_batch_size"] == 64 and config["input"][0]["name"] == "INPUT__0"
    grpc_config = triton_grpc.InferenceServerClient(server.grpc_url).get_model_config("quickstart", as_json=True)
    assert grpc_config["config"]["name"] == "quickstart"


def test_statistics_window_counts_what_was_sent(server: LocalServer) -> None:
    before = read_statistics(server.http_url, "quickstart", "1")
    for batch in (1, 3):
        infer(server.md, server.http_url, example_inputs(server.md, batch=batch))
    window = read_statistics(server.http_url, "quickstart", "1") - before
    assert (window.inferences, window.executions) == (4, 2)
    assert window.executions_by_batch == {1: 1, 3: 1}
    assert window.per_request_us("compute_infer") > 0
