"""`build-repo` checks artifacts against their format; `package` turns torch into Triton."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import render_model_config
from modeldeploy.cli import main
from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.example_inputs import parse_example_input
from modeldeploy_runtime.package import package_module
from modeldeploy_runtime.repository import build_repository
from support.specs import with_

pytestmark = pytest.mark.unit

CONFIG = 'name: "m"\nbackend: "onnxruntime"\n'


def _build(source: Path, repo: Path, fmt: str = "onnx", config: str = CONFIG) -> Path:
    return build_repository(source, repo, "m", "3", fmt, config)


def test_onnx_is_laid_out_for_triton(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "resnet.onnx").write_bytes(b"\x08\x07rest")
    target = _build(tmp_path / "src", tmp_path / "repo")
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["3", "3/model.onnx", "config.pbtxt"]
    assert (target / "config.pbtxt").read_text() == CONFIG


@pytest.mark.parametrize("fmt,name,data,words", [
    ("onnx", "model.onnx", b"PK\x03\x04 zip, not onnx", "not an ONNX model"),
    ("onnx", "model.onnx", b"", "is empty"),
    ("torchscript", "model.pt", b"\x08\x07 onnx bytes", "not a TorchScript archive"),
    ("onnx", "weights.bin", b"\x08\x07", "needs exactly one .onnx file, found 0"),
    ("python", "other.py", b"x = 1\n", "needs a model.py"),
])
def test_artifact_must_match_its_format(tmp_path: Path, fmt: str, name: str, data: bytes, words: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / name).write_bytes(data)
    with pytest.raises(RuntimeFailure) as caught:
        _build(tmp_path / "src", tmp_path / "repo", fmt=fmt)
    assert caught.value.code == ExitCode.BAD_ARTIFACT and words in caught.value.reason
    assert not (tmp_path / "repo" / "m").exists()


def test_config_must_be_a_triton_config_for_this_model(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(RuntimeFailure, match="not a Triton model config"):
        _build(tmp_path / "src", tmp_path / "repo", config="max_batch: nope")
    with pytest.raises(RuntimeFailure, match="names model 'other'"):
        _build(tmp_path / "src", tmp_path / "repo", config='name: "other"')


def test_staging_inside_the_repository_is_removed(tmp_path: Path) -> None:
    staging = tmp_path / "repo" / ".staging" / "m"
    staging.mkdir(parents=True)
    (staging / "m.onnx").write_bytes(b"\x08\x07")
    _build(staging, tmp_path / "repo")
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["m"]


def test_cli_build_repo_with_rendered_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = parse_model_deployment(with_(("metadata.name", "m"), ("spec.model.version", "3")))
    (tmp_path / "config.pbtxt").write_text(render_model_config(md))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.onnx").write_bytes(b"\x08\x07")
    code = main(["build-repo", "--source", str(tmp_path / "src"), "--repository", str(tmp_path / "repo"),
                 "--model", "m", "--version", "3", "--format", "onnx", "--config", str(tmp_path / "config.pbtxt")])
    assert code == 0, capsys.readouterr().err
    parsed = text_format.Parse((tmp_path / "repo/m/config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert parsed.backend == "onnxruntime"


class TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(8, 32)
        self.a = torch.nn.Linear(32, 3)
        self.b = torch.nn.Linear(32, 5)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.body(x)) * scale.float()
        return self.a(h), self.b(h).to(torch.float16)


def test_package_infers_names_types_and_dims(tmp_path: Path) -> None:
    torch.manual_seed(0)
    examples = [parse_example_input("4x8:float32"), parse_example_input("4x1:int64")]
    report = package_module(TwoHeads(), examples, tmp_path / "out")
    assert report.inputs == [{"name": "INPUT__0", "dataType": "FP32", "dims": [8]},
                             {"name": "INPUT__1", "dataType": "INT64", "dims": [1]}]
    assert report.outputs == [{"name": "OUTPUT__0", "dataType": "FP32", "dims": [3]},
                              {"name": "OUTPUT__1", "dataType": "FP16", "dims": [5]}]
    reloaded = torch.jit.load(str(tmp_path / "out" / "model.pt"))
    assert reloaded(*examples)[0].shape == (4, 3)
    assert "class TritonPythonModel" in (tmp_path / "out" / "model.py").read_text()
    assert "maxBatchSize: 16" in report.config_yaml(16)


def test_int8_quantization_reports_size_speed_and_accuracy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    report = package_module(model, [parse_example_input("32x256")], tmp_path / "q", quantize="int8")
    q = report.quantization
    assert q is not None and q.size_after < q.size_before / 2
    assert q.max_abs_error < 0.1 and q.latency_before_ms > 0 and q.latency_after_ms > 0


def test_package_cli_from_a_saved_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Linear(16, 4)), tmp_path / "m.pt")
    code = main(["package", str(tmp_path / "m.pt"), "--example-input", "2x16", "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "{name: INPUT__0, dataType: FP32, dims: [16]}" in out
    assert main(["package", str(tmp_path / "m.pt"), "--example-input", "16", "-o", str(tmp_path / "x")]) == ExitCode.USAGE
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["package", str(tmp_path / "junk.pt"), "--example-input", "1x16", "-o", str(tmp_path / "y")]) \
        == ExitCode.BAD_ARTIFACT
