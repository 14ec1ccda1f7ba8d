"""gs:// against a local Cloud Storage emulator (gcp-storage-emulator) on loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import pytest
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.fetch import fetch
from modeldeploy_runtime.triton_process import free_port

pytestmark = pytest.mark.unit

DATA = b"\x08\x07" + bytes(range(256)) * 64


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="models")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    monkeypatch.delenv("MODELDEPLOY_CREDENTIALS_DIR", raising=False)
    client = storage.Client(project="emulator", credentials=AnonymousCredentials())
    client.bucket("models").blob("bert/7/model.onnx").upload_from_string(DATA)
    return "models"


def test_gcs_object_is_fetched_and_verified(bucket: str, tmp_path: Path) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    fetch(f"gs://{bucket}/bert/7/model.onnx", tmp_path / "out", sha256=digest)
    assert (tmp_path / "out" / "model.onnx").read_bytes() == DATA


def test_gcs_missing_object_and_size_limit(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as missing:
        fetch(f"gs://{bucket}/nope/model.onnx", tmp_path / "a")
    assert missing.value.code == ExitCode.SOURCE_NOT_FOUND
    with pytest.raises(RuntimeFailure) as big:
        fetch(f"gs://{bucket}/bert/7/model.onnx", tmp_path / "b", max_bytes=100)
    assert big.value.code == ExitCode.TOO_LARGE and not (tmp_path / "b").exists()
