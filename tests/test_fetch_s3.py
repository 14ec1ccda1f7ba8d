"""s3:// against a real S3-compatible server on loopback (moto's server, in its own process)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from modeldeploy.reconcile.pods import diagnose
from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.fetch import MARKER, StorageSettings, fetch, objects
from modeldeploy_runtime.fetch.s3 import S3Store
from modeldeploy_runtime.fetch.tree import tree_digest
from support.forward_proxy import forward_proxy
from support.s3server import S3Server

pytestmark = pytest.mark.unit

DATA = b"\x08\x07" + bytes(range(256)) * 64
# An ensemble's folder: nested models, a tokenizer, a folder marker as consoles create them.
TREE = {
    "1/model.onnx": DATA,
    "tokenizer/vocab.txt": b"hello\nworld\n",
    "tokenizer/": b"",
    "preprocess/1/model.py": b"class TritonPythonModel:\n    pass\n",
    "weights/big.bin": os.urandom(300_000),
}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        client = server.client()
        client.create_bucket(Bucket="models")
        client.put_object(Bucket="models", Key="resnet/3/model.onnx", Body=DATA)
        for name, body in TREE.items():
            client.put_object(Bucket="models", Key=f"ensemble/{name}", Body=body)
        yield server


@pytest.fixture
def settings(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StorageSettings:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "AWS_ACCESS_KEY_ID").write_text("testing")
    (creds / "AWS_SECRET_ACCESS_KEY").write_text("testing\n")
    monkeypatch.setenv("MODELDEPLOY_CREDENTIALS_DIR", str(creds))
    return StorageSettings(endpoint=s3.endpoint, region="us-east-1", path_style=True, workers=4)


def test_single_object_is_fetched_with_mounted_credentials(settings: StorageSettings, tmp_path: Path) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    result = fetch("s3://models/resnet/3/model.onnx", tmp_path / "out", sha256=digest, settings=settings)
    assert (tmp_path / "out" / "model.onnx").read_bytes() == DATA and result.sha256 == digest


def test_missing_key_and_checksum_mismatch(settings: StorageSettings, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as missing:
        fetch("s3://models/nope/model.onnx", tmp_path / "a", settings=settings)
    assert missing.value.code == ExitCode.SOURCE_NOT_FOUND
    with pytest.raises(RuntimeFailure) as mismatch:
        fetch("s3://models/resnet/3/model.onnx", tmp_path / "b", sha256="1" * 64, settings=settings)
    assert mismatch.value.code == ExitCode.CHECKSUM_MISMATCH and not (tmp_path / "b").exists()


def _local_copy(root: Path) -> None:
    for name, body in TREE.items():
        if not name.endswith("/"):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(body)


def test_folder_keeps_its_nested_layout_and_matches_the_local_digest(settings: StorageSettings,
                                                                     tmp_path: Path) -> None:
    _local_copy(tmp_path / "local")
    expected = tree_digest(tmp_path / "local")
    result = fetch("s3://models/ensemble/", tmp_path / "out", tree_sha256=expected, settings=settings)
    fetched = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert fetched == sorted([MARKER, *(n for n in TREE if not n.endswith("/"))])
    for name, body in TREE.items():
        if not name.endswith("/"):
            assert (tmp_path / "out" / name).read_bytes() == body
    assert result.tree_sha256 == expected


def test_a_folder_without_a_digest_is_reused_only_while_its_listing_holds(s3: S3Server, settings: StorageSettings,
                                                                          tmp_path: Path) -> None:
    client = s3.client()
    client.put_object(Bucket="models", Key="mutable/1/model.onnx", Body=b"old")
    fetch("s3://models/mutable/", tmp_path / "out", settings=settings)
    fetch("s3://models/mutable/", tmp_path / "out", settings=settings)  # records the listing it checked
    assert fetch("s3://models/mutable/", tmp_path / "out", settings=settings).reused
    client.put_object(Bucket="models", Key="mutable/1/model.onnx", Body=b"new")
    assert not fetch("s3://models/mutable/", tmp_path / "out", settings=settings).reused
    assert (tmp_path / "out" / "1" / "model.onnx").read_bytes() == b"new"


def test_a_wrong_tree_digest_fails_closed(settings: StorageSettings, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        fetch("s3://models/ensemble/", tmp_path / "out", tree_sha256="0" * 64, settings=settings)
    assert caught.value.code == ExitCode.CHECKSUM_MISMATCH
    assert list(tmp_path.iterdir()) == [tmp_path / "creds"], "nothing may be left behind"


def test_objects_download_in_parallel_within_the_bound(settings: StorageSettings, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Small parts so the big object is split too. The first two reads wait for each other: run one
    # after the other, they never meet and the barrier breaks.
    monkeypatch.setattr(objects, "SPLIT_ABOVE_BYTES", 128 * 1024)
    monkeypatch.setattr(objects, "PART_BYTES", 64 * 1024)
    meet = threading.Barrier(2, timeout=10)
    started, in_flight, most = [0], [0], [0]
    lock = threading.Lock()
    real_read = S3Store.read

    def counted_read(self, obj, start, end):  # noqa: ANN001, ANN202
        with lock:
            started[0] += 1
            first_two = started[0] <= 2
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            if first_two:
                meet.wait()
            yield from real_read(self, obj, start, end)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(S3Store, "read", counted_read)
    fetch("s3://models/ensemble/", tmp_path / "out", settings=settings)
    assert started[0] > len(TREE), "the big object was not split into parts"
    assert 2 <= most[0] <= settings.workers
    assert (tmp_path / "out" / "weights/big.bin").read_bytes() == TREE["weights/big.bin"]


def test_a_missing_prefix_and_a_folder_named_without_slash(settings: StorageSettings, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as empty:
        fetch("s3://models/nothing-here/", tmp_path / "a", settings=settings)
    assert empty.value.code == ExitCode.SOURCE_NOT_FOUND and "no objects under this prefix" in empty.value.reason
    with pytest.raises(RuntimeFailure) as folder:
        fetch("s3://models/ensemble", tmp_path / "b", settings=settings)
    assert folder.value.code == ExitCode.SOURCE_NOT_FOUND and "end the URI with /" in folder.value.reason


def test_the_whole_tree_counts_against_the_size_limit(settings: StorageSettings, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        fetch("s3://models/ensemble/", tmp_path / "out", max_bytes=200_000, settings=settings)
    assert caught.value.code == ExitCode.TOO_LARGE and "in all" in caught.value.reason
    assert not (tmp_path / "out").exists()


def test_an_object_replaced_while_the_folder_is_read_fails_closed(s3: S3Server, settings: StorageSettings,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    s3.client().put_object(Bucket="models", Key="racy/a.bin", Body=b"A" * 1000)
    s3.client().put_object(Bucket="models", Key="racy/b.bin", Body=b"B" * 1000)
    listed = None
    real_read = S3Store.read

    def replaced_after_listing(self, obj, start, end):  # noqa: ANN001, ANN202
        nonlocal listed
        if listed is None:  # the first read: the listing is done; a writer replaces an object now
            listed = obj.key
            s3.client().put_object(Bucket="models", Key="racy/b.bin", Body=b"C" * 1000)
        yield from real_read(self, obj, start, end)

    monkeypatch.setattr(S3Store, "read", replaced_after_listing)
    with pytest.raises(RuntimeFailure) as caught:
        fetch("s3://models/racy/", tmp_path / "out", settings=dataclasses.replace(settings, workers=1))
    assert caught.value.code == ExitCode.SOURCE_CHANGED and "racy/b.bin changed" in caught.value.reason
    assert not (tmp_path / "out").exists()


def _run_fetch(args: list[str], creds: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    folder = tmp_path / "mounted-secret"
    folder.mkdir(exist_ok=True)
    for key, value in creds.items():
        (folder / key).write_text(value)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MODELDEPLOY_CREDENTIALS_DIR"] = str(folder)
    return subprocess.run([sys.executable, "-m", "modeldeploy.cli", "fetch", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def _pod_with_failed_fetch(message: str, exit_code: int) -> dict:
    # What the kubelet writes: terminationMessagePolicy FallbackToLogsOnError hands over the log's tail.
    return {"metadata": {"name": "resnet-v3-abcde"}, "status": {"initContainerStatuses": [{
        "name": "fetch", "state": {"terminated": {"exitCode": exit_code, "reason": "Error", "message": message}}}]}}


def test_wrong_secret_is_access_denied_and_reaches_status(tmp_path: Path) -> None:
    with S3Server() as server:
        server.client().create_bucket(Bucket="private")
        server.client().put_object(Bucket="private", Key="m/1/model.onnx", Body=DATA)
        reader = server.add_reader("model-reader")
        server.enable_auth()
        base = ["s3://private/m/", str(tmp_path / "out"), "--endpoint", server.endpoint, "--region", "us-east-1"]
        wrong = _run_fetch(base, {**reader, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}, tmp_path)
        assert wrong.returncode == ExitCode.ACCESS_DENIED == 11, wrong.stderr
        last = wrong.stderr.strip().splitlines()[-1]
        assert last.startswith("ACCESS_DENIED: s3://private/m/: SignatureDoesNotMatch; check "
                               "spec.model.storage.credentialsSecret")
        assert "Traceback" not in wrong.stderr and reader["AWS_SECRET_ACCESS_KEY"] not in wrong.stderr
        finding = diagnose([_pod_with_failed_fetch(wrong.stderr, wrong.returncode)])
        assert finding.reason == "ModelFetchFailed" and f"fetch failed: {last}" in finding.message
        unknown = _run_fetch(base, {"AWS_ACCESS_KEY_ID": "AKIANOBODY", "AWS_SECRET_ACCESS_KEY": "x"}, tmp_path)
        assert unknown.returncode == ExitCode.ACCESS_DENIED and "InvalidAccessKeyId" in unknown.stderr
        right = _run_fetch(base, reader, tmp_path)
        assert right.returncode == 0, right.stderr
        assert (tmp_path / "out" / "1" / "model.onnx").read_bytes() == DATA


def test_storage_proxy_carries_every_request(settings: StorageSettings, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with forward_proxy() as (proxy, relayed):
        monkeypatch.setenv("HTTP_PROXY", proxy)  # what spec.model.storage.proxy sets in the fetch container
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        fetch("s3://models/ensemble/", tmp_path / "out", settings=settings)
    assert any(r.startswith("GET") and "list-type=2" in r for r in relayed)
    assert sum("/models/ensemble/" in r for r in relayed) >= len(TREE) - 1
    assert (tmp_path / "out" / "weights/big.bin").read_bytes() == TREE["weights/big.bin"]
