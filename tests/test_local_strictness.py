"""Local serving is as strict as the cluster, and says what is wrong (real Triton, real torch)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
import yaml

from modeldeploy.api import parse_model_deployment
from modeldeploy_runtime.example_inputs import parse_example_input
from modeldeploy_runtime.infer import infer
from modeldeploy_runtime.local_gpus import gpu_count
from modeldeploy_runtime.package import package_module
from modeldeploy_runtime.serve import LocalServer, ServeOptions, serving
from modeldeploy_runtime.smoke import smoke
from modeldeploy_runtime.triton_process import free_port
from support.quickstart import make_quickstart
from test_cli_messages import EXE, modeldeploy

from conftest import REPO

pytestmark = pytest.mark.runtime


class Tagger(torch.nn.Module):
    """Token ids in, one class per sample out: the argmax of issue 14, a scalar per sample."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens).mean(dim=1)).argmax(dim=1)


def _md_file(folder: Path, name: str, inputs: list[dict], outputs: list[dict]) -> Path:
    doc = {"apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name},
           "spec": {"model": {"uri": f"file:{name}", "version": "1", "format": "python", "config": {
               "maxBatchSize": 8, "inputs": inputs, "outputs": outputs, "instanceGroups": [{"kind": "CPU"}]}}}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, torch.nn.Module]]:
    folder = tmp_path_factory.mktemp("tagger")
    torch.manual_seed(0)
    model = Tagger().eval()
    report = package_module(model, [parse_example_input("8x4:int64[0,10)")], folder / "tagger")
    path = _md_file(folder, "tagger", report.inputs, report.outputs)
    md = parse_model_deployment(yaml.safe_load(path.read_text()))
    with serving(md, folder, ServeOptions(workdir=folder / "work")) as server:
        yield server, model


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A packaged MLP whose forward() takes 16 features, and a folder to write ModelDeployments into."""
    folder = tmp_path_factory.mktemp("mlp")
    torch.manual_seed(0)
    package_module(torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)),
                   [torch.randn(2, 16)], folder / "mlp")
    return folder


def test_a_scalar_per_sample_is_served_as_declared_with_the_models_values(tagger) -> None:
    server, model = tagger
    tokens = np.random.default_rng(3).integers(0, 10, (5, 4))
    out = infer(server.md, server.http_url, {"INPUT__0": tokens})["OUTPUT__0"]
    with torch.inference_mode():
        expected = model(torch.from_numpy(tokens)).numpy()
    assert expected.shape == (5,)
    assert out.shape == (5, 1)  # Triton's reshape: dims [1] on the wire, [] for the model
    np.testing.assert_array_equal(out[:, 0], expected)


def test_input_names_that_match_nothing_fail_to_load_with_the_fix(mlp: Path) -> None:
    path = _md_file(mlp, "mlp", [{"name": "features", "dataType": "FP32", "dims": [16]}],
                    [{"name": "OUTPUT__0", "dataType": "FP32", "dims": [4]}])
    proc = modeldeploy("serve", "-f", str(path), "--once", "--workdir", str(mlp / "work-names"), timeout=180)
    assert proc.returncode == 21, proc.stderr
    # One line, the model's own load error: not Triton's log with the python backend's At: trace.
    assert proc.stderr.splitlines()[1:] == [
        "TRITON_FAILED: tritonserver exited with code 1: model mlp version 1 failed to load: config inputs "
        "['features'] do not match forward(input): features is no argument of forward(); forward() also needs input; "
        "name the inputs input, or INPUT__0..INPUT__0 in forward()'s order (Triton's libtorch backend accepts nothing "
        f"else) (Triton's log: {mlp / 'work-names' / 'triton.log'})"], proc.stderr


@pytest.mark.skipif(gpu_count() > 0, reason="this machine has a GPU: KIND_GPU runs as written")
def test_gpu_instance_groups_run_as_cpu_ones_without_a_gpu_and_say_so(mlp: Path) -> None:
    path = _md_file(mlp, "mlp", [{"name": "INPUT__0", "dataType": "FP32", "dims": [16]}],
                    [{"name": "OUTPUT__0", "dataType": "FP32", "dims": [4]}])
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["model"]["config"]["instanceGroups"] = [{"kind": "GPU", "count": 2, "gpus": [0]}, {"kind": "CPU"}]
    doc["spec"]["runtime"] = {"resources": {"gpus": 1}}
    path.write_text(yaml.safe_dump(doc))
    proc = modeldeploy("serve", "-f", str(path), "--once", "--workdir", str(mlp / "work-gpu"), timeout=180)
    assert proc.returncode == 0, proc.stderr
    warning = "no GPU on this machine: spec.model.config.instanceGroups[0] of kind GPU runs as KIND_CPU locally " \
              "(Triton loads no KIND_GPU instance without a GPU); the cluster's pods keep kind GPU"
    assert f"serve: warning: {warning}" in proc.stderr.splitlines()
    config = (mlp / "work-gpu" / "repository" / "mlp" / "config.pbtxt").read_text()
    assert "KIND_GPU" not in config and config.count("KIND_CPU") == 2 and "count: 2" in config
    proc = modeldeploy("validate", "--local", "-f", str(path))
    assert proc.returncode == 0 and proc.stderr == f"{path}: document 1 (line 1) mlp: warning: {warning}\n"
    assert warning not in modeldeploy("validate", "-f", str(path)).stderr  # for a cluster, GPU is right


def test_dims_that_do_not_fit_the_model_fail_before_ready(mlp: Path) -> None:
    path = _md_file(mlp, "mlp", [{"name": "INPUT__0", "dataType": "FP32", "dims": [15]}],
                    [{"name": "OUTPUT__0", "dataType": "FP32", "dims": [4]}])
    proc = modeldeploy("serve", "-f", str(path), "--once", "--workdir", str(mlp / "work-dims"), timeout=180)
    assert proc.returncode == 21, proc.stderr
    assert "is ready" not in proc.stdout
    assert "TRITON_FAILED: model mlp loaded, but a config-shaped inference failed: inference failed: mat1 and mat2 " \
           "shapes cannot be multiplied (1x15 and 16x64). Make spec.model.config match the model" in proc.stderr


@pytest.mark.parametrize("declared, served", [("INT64", False), ("BOOL", False), ("FP64", True)])
def test_an_output_type_across_kinds_fails_before_ready_and_within_a_kind_is_converted(
        mlp: Path, declared: str, served: bool) -> None:
    # The model returns FP32: INT64 would have answered truncated values (zeros), silently.
    path = _md_file(mlp, "mlp", [{"name": "INPUT__0", "dataType": "FP32", "dims": [16]}],
                    [{"name": "OUTPUT__0", "dataType": declared, "dims": [4]}])
    proc = modeldeploy("serve", "-f", str(path), "--once", "--workdir", str(mlp / f"work-{declared}"), timeout=180)
    if served:
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1].split(": ", 1)[1])["OUTPUT__0"][0] != [0.0] * 4
        return
    assert proc.returncode == 21, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "TRITON_FAILED: model mlp loaded, but a config-shaped inference failed: inference failed: output OUTPUT__0 is "
        f"declared {declared} but the model returns FP32, which cannot be converted without changing its values: set "
        "the dataType of OUTPUT__0 in spec.model.config.outputs to FP32, the model's type. Make spec.model.config "
        "match the model (`modeldeploy package` prints it)")


def test_smoke_reports_what_failed_without_raising(tagger) -> None:
    server, _ = tagger
    result = smoke(server.md, server.http_url)
    assert result.ok and "OUTPUT__0 [1, 1]" in result.message and result.seconds < 10
    grpc = smoke(server.md, server.grpc_url, protocol="grpc")
    assert grpc.ok, grpc.message
    nobody = smoke(server.md, f"127.0.0.1:{free_port()}", timeout=2)
    assert not nobody.ok and "connection refused" in nobody.message
    declared_wrong = server.md.model_copy(deep=True)
    object.__setattr__(declared_wrong.spec.model.config.outputs[0], "dims", [3])
    wrong = smoke(declared_wrong, server.http_url)
    assert not wrong.ok and wrong.message == "output OUTPUT__0 came back with shape [1, 1], declared [1, 3] " \
                                             "(batch first)"


def test_infer_says_when_nothing_listens_or_the_port_speaks_the_other_protocol(tagger, tmp_path: Path) -> None:
    server, _ = tagger
    path = tmp_path / "tagger.yaml"
    path.write_text(yaml.safe_dump(server.md.to_wire()))
    port = free_port()
    proc = modeldeploy("infer", "-f", str(path), "--url", f"127.0.0.1:{port}")
    assert proc.returncode == 12
    assert proc.stderr.strip() == f"NETWORK: nothing answers at 127.0.0.1:{port} (connection refused): start the " \
                                  "server (modeldeploy serve -f FILE prints its address), or pass --url HOST:PORT"
    proc = modeldeploy("infer", "-f", str(path), "--url", server.grpc_url)
    assert proc.returncode == 12
    assert f"NETWORK: {server.grpc_url} does not answer HTTP: is it Triton's gRPC port? Pass --protocol grpc" \
        in proc.stderr
    proc = modeldeploy("infer", "-f", str(path), "--url", server.http_url, "--protocol", "grpc")
    assert proc.returncode == 12 and "does not answer gRPC: is it Triton's HTTP port?" in proc.stderr
    proc = modeldeploy("infer", "-f", str(path), "--url", server.grpc_url, "--protocol", "grpc")
    assert proc.returncode == 0 and np.asarray(json.loads(proc.stdout)["OUTPUT__0"]).shape == (1, 1)


def test_serve_prints_a_short_curl_whose_request_file_works(tmp_path: Path) -> None:
    quickstart = make_quickstart(tmp_path)
    proc = subprocess.Popen([EXE, "serve", "-f", str(quickstart), "--workdir", str(tmp_path / "work")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        lines = []
        while not lines or "Ctrl-C" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.stderr.read()
            lines.append(line)
        curl = next(line.strip() for line in lines if line.strip().startswith("curl "))
        assert len(curl) < 200, curl
        url, request_file = re.search(r"curl -s (\S+) .* -d @(\S+)$", curl).groups()
        request = urllib.request.Request(url, data=Path(request_file).read_bytes(),
                                         headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert answer["outputs"][0]["name"] == "OUTPUT__0" and answer["outputs"][0]["shape"] == [1, 4]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
