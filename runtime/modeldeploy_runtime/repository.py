"""`modeldeploy build-repo`: a Triton model repository from a fetched artifact.

Lays out <repository>/<model>/config.pbtxt and <repository>/<model>/<version>/,
after checking that the artifact is what its declared format says it is, so a
wrong or corrupt file is refused here with a reason rather than by Triton.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
import zipfile
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from modeldeploy.builders import default_model_filename

from .errors import ExitCode, RuntimeFailure
from .fetch import MARKER

SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".torchscript"), "tensorrt": (".plan", ".engine")}


def build_repository(source: Path, repository: Path, model: str, version: str, fmt: str,
                     config_text: str) -> Path:
    """Returns <repository>/<model>. Replaces an existing model folder atomically."""
    _check_config(config_text, model)
    source = Path(source)
    if not source.exists():
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{source} does not exist; run fetch first")
    repository.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=repository, prefix=f".build-{model}-"))
    try:
        version_dir = work / version
        version_dir.mkdir()
        _place_artifact(source, version_dir, fmt)
        (work / "config.pbtxt").write_text(config_text)
        target = repository / model
        if target.exists():
            old = repository / f".old-{model}"
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            work.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(target)
        _drop_staging(source, repository)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _drop_staging(source: Path, repository: Path) -> None:
    # In the pod, fetch stages inside the repository volume; Triton must not see it.
    repository = repository.resolve()
    source = source.resolve()
    if repository in source.parents:
        shutil.rmtree(source, ignore_errors=True)
        parent = source.parent
        if parent != repository and parent.name.startswith(".") and not any(parent.iterdir()):
            parent.rmdir()


def _check_config(config_text: str, model: str) -> None:
    try:
        config = text_format.Parse(config_text, model_config_pb2.ModelConfig())
    except text_format.ParseError as err:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"config.pbtxt is not a Triton model config: {err}") from None
    if config.name and config.name != model:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"config.pbtxt names model {config.name!r}, not {model!r}")


def _files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if p.is_file() and p.name != MARKER)


def _single(source: Path, fmt: str) -> Path:
    candidates = [p for p in _files(source) if p.name.endswith(SUFFIXES[fmt])]
    if len(candidates) != 1:
        found = ", ".join(p.name for p in _files(source)[:5]) or "nothing"
        raise RuntimeFailure(
            ExitCode.BAD_ARTIFACT,
            f"format {fmt} needs exactly one {'/'.join(SUFFIXES[fmt])} file, found {len(candidates)} (in {source}: {found})",
        )
    return candidates[0]


def _place_artifact(source: Path, version_dir: Path, fmt: str) -> None:
    if fmt == "python":
        root = source if source.is_dir() else source.parent
        _check_python_model(root / "model.py")
        for path in _files(root):
            target = version_dir / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        if (root / "model.pt").exists():
            _check_torchscript(root / "model.pt")
        return
    if fmt == "savedmodel":
        root = next((p.parent for p in _files(source) if p.name == "saved_model.pb"), None)
        if root is None:
            raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"format savedmodel needs a saved_model.pb in {source}")
        # fetch's own marker is no part of the model.
        shutil.copytree(root, version_dir / default_model_filename(fmt), ignore=shutil.ignore_patterns(MARKER))
        return
    artifact = _single(source, fmt)
    {"onnx": _check_onnx, "torchscript": _check_torchscript, "tensorrt": _check_nonempty}[fmt](artifact)
    shutil.copy2(artifact, version_dir / default_model_filename(fmt))


def _check_nonempty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} is empty")


def _check_onnx(path: Path) -> None:
    # An ONNX ModelProto starts with field 1 (ir_version) as a varint: byte 0x08.
    _check_nonempty(path)
    with path.open("rb") as handle:
        if handle.read(1) != b"\x08":
            raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} is not an ONNX model (no ModelProto header)")


def _check_torchscript(path: Path) -> None:
    # TorchScript archives are zip files holding the code and constants.
    if not zipfile.is_zipfile(path):
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} is not a TorchScript archive (not a zip file)")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if zf.testzip() is not None or not any("/code/" in n or n.endswith("constants.pkl") for n in names):
            raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} is not a TorchScript archive (no code/ inside)")


def _check_python_model(path: Path) -> None:
    if not path.is_file():
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"format python needs a model.py (not found at {path})")
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as err:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"model.py does not parse: line {err.lineno}: {err.msg}") from None
    if not any(isinstance(n, ast.ClassDef) and n.name == "TritonPythonModel" for n in tree.body):
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, "model.py defines no class TritonPythonModel")
