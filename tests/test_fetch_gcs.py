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
from modeldeploy_runtime.fetch import StorageSettings, fetch
from modeldeploy_runtime.fetch.gcs import GcsStore
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
    bucket = client.bucket("models")
    bucket.blob("bert/7/model.onnx").upload_from_string(DATA)
    for name in ("1/model.onnx", "tokenizer/vocab.txt", "tokenizer/merges.txt"):
        bucket.blob(f"bert-dir/{name}").upload_from_string(name.encode() * 100)
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


def test_gcs_folder_keeps_its_layout(bucket: str, tmp_path: Path) -> None:
    fetch(f"gs://{bucket}/bert-dir/", tmp_path / "out")
    for name in ("1/model.onnx", "tokenizer/vocab.txt", "tokenizer/merges.txt"):
        assert (tmp_path / "out" / name).read_bytes() == name.encode() * 100


@pytest.mark.parametrize("newer", [b"a shorter vocabulary", b"x" * len(b"tokenizer/vocab.txt" * 100)],
                         ids=["other size", "same size"])
def test_gcs_object_replaced_while_read_fails_closed(bucket: str, tmp_path: Path, newer: bytes,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulator ignores ifGenerationMatch (real GCS answers 412); the listing's size, generation and
    # crc32c still catch the change.
    real_read = GcsStore.read
    replaced = []

    def replaced_after_listing(self, obj, start, end):  # noqa: ANN001, ANN202
        if not replaced:
            replaced.append(obj.key)
            self._bucket.blob("bert-dir/tokenizer/vocab.txt").upload_from_string(newer)
        yield from real_read(self, obj, start, end)

    monkeypatch.setattr(GcsStore, "read", replaced_after_listing)
    with pytest.raises(RuntimeFailure) as caught:
        # One at a time, so the replaced object is read after the replacement, not before.
        fetch(f"gs://{bucket}/bert-dir/", tmp_path / "out", settings=StorageSettings(workers=1))
    assert caught.value.code == ExitCode.SOURCE_CHANGED and "vocab.txt changed" in caught.value.reason
    assert not (tmp_path / "out").exists()
