"""s3:// against a real S3-compatible server on loopback (moto's server mode)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.fetch import fetch

pytestmark = pytest.mark.unit

DATA = b"\x08\x07" + bytes(range(256)) * 64


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "AWS_ACCESS_KEY_ID").write_text("testing")
    (creds / "AWS_SECRET_ACCESS_KEY").write_text("testing\n")
    monkeypatch.setenv("MODELDEPLOY_CREDENTIALS_DIR", str(creds))
    s3 = boto3.client("s3", aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="resnet/3/model.onnx", Body=DATA)
    return "models"


def test_s3_object_is_fetched_with_mounted_credentials(bucket: str, tmp_path: Path) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    result = fetch(f"s3://{bucket}/resnet/3/model.onnx", tmp_path / "out", sha256=digest)
    assert (tmp_path / "out" / "model.onnx").read_bytes() == DATA and result.sha256 == digest


def test_s3_missing_key_and_checksum_mismatch(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as missing:
        fetch(f"s3://{bucket}/nope/model.onnx", tmp_path / "a")
    assert missing.value.code == ExitCode.SOURCE_NOT_FOUND
    with pytest.raises(RuntimeFailure) as mismatch:
        fetch(f"s3://{bucket}/resnet/3/model.onnx", tmp_path / "b", sha256="1" * 64)
    assert mismatch.value.code == ExitCode.CHECKSUM_MISMATCH and not (tmp_path / "b").exists()
