"""`modeldeploy fetch`: real files, a real HTTP server on loopback, real archives."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import ssl
import subprocess
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from modeldeploy.cli import main
from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.fetch import MARKER, StorageSettings, fetch
from support.forward_proxy import forward_proxy
from support.tls import make_ca_and_server_cert

pytestmark = pytest.mark.unit

ONNX_BYTES = b"\x08\x07" + os.urandom(256)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: list[str] = []
    flaky: dict[str, int] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib hook
        type(self).hits.append(self.path)
        if self.path.startswith("/secret") and self.headers.get("Authorization") != "Bearer s3cr3t":
            self.send_error(403)
            return
        remaining = type(self).flaky.get(self.path, 0)
        if remaining:
            type(self).flaky[self.path] = remaining - 1
            self.send_error(503)
            return
        super().do_GET()

    def end_headers(self) -> None:
        # An ETag from the file's size and time, as static file servers and object stores give one.
        path = Path(self.translate_path(self.path))
        if path.is_file():
            stat = path.stat()
            self.send_header("ETag", f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"')
        super().end_headers()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    _Handler.hits, _Handler.flaky = [], {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_file_is_fetched_and_verified(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(ONNX_BYTES)
    result = fetch("file:model.onnx", tmp_path / "out", sha256=_sha(ONNX_BYTES), base_dir=tmp_path)
    assert (tmp_path / "out" / "model.onnx").read_bytes() == ONNX_BYTES
    assert result.sha256 == _sha(ONNX_BYTES) and not result.reused


def test_checksum_mismatch_fails_closed_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(ONNX_BYTES)
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{tmp_path}/model.onnx", tmp_path / "out", sha256="0" * 64)
    assert caught.value.code == ExitCode.CHECKSUM_MISMATCH
    assert "expected " + "0" * 64 in caught.value.reason and _sha(ONNX_BYTES) in caught.value.reason
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_http_download_with_retries(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "model.onnx").write_bytes(ONNX_BYTES)
    _Handler.flaky["/model.onnx"] = 2
    fetch(f"{url}/model.onnx", tmp_path / "out", sha256=_sha(ONNX_BYTES))
    assert (tmp_path / "out" / "model.onnx").read_bytes() == ONNX_BYTES
    assert _Handler.hits.count("/model.onnx") == 3


def test_idempotent_second_fetch_downloads_nothing(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "model.onnx").write_bytes(ONNX_BYTES)
    fetch(f"{url}/model.onnx", tmp_path / "out", sha256=_sha(ONNX_BYTES))
    again = fetch(f"{url}/model.onnx", tmp_path / "out", sha256=_sha(ONNX_BYTES))
    assert again.reused and _Handler.hits.count("/model.onnx") == 1


# -- nothing pinned: a fetched copy is reused only while the source provably did not change ----------------


def _package_into(folder: Path, weights: bytes) -> None:
    """What `modeldeploy package -o folder` does to a folder served before: new files in place."""
    folder.mkdir(exist_ok=True)
    (folder / "model.pt").write_bytes(weights)
    (folder / "config.txt").write_text(f"{len(weights)}\n")


def test_a_folder_repackaged_in_place_is_fetched_again(tmp_path: Path) -> None:
    _package_into(tmp_path / "model", b"old weights")
    fetch("file:model", tmp_path / "out", base_dir=tmp_path)
    _package_into(tmp_path / "model", b"new weights, another model")
    again = fetch("file:model", tmp_path / "out", base_dir=tmp_path)
    assert not again.reused
    assert (tmp_path / "out" / "model.pt").read_bytes() == b"new weights, another model"


def test_a_same_size_rewrite_of_a_file_is_fetched_again(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"A" * 64)
    fetch("file:model.onnx", tmp_path / "out", base_dir=tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"B" * 64)
    assert not fetch("file:model.onnx", tmp_path / "out", base_dir=tmp_path).reused
    assert (tmp_path / "out" / "model.onnx").read_bytes() == b"B" * 64


def test_an_unchanged_folder_is_reused(tmp_path: Path) -> None:
    _package_into(tmp_path / "model", b"weights")
    fetch("file:model", tmp_path / "out", base_dir=tmp_path)
    assert fetch("file:model", tmp_path / "out", base_dir=tmp_path).reused


def test_http_without_a_digest_is_reused_only_while_its_etag_holds(http_root: tuple[str, Path],
                                                                   tmp_path: Path) -> None:
    url, root = http_root
    (root / "model.onnx").write_bytes(ONNX_BYTES)
    fetch(f"{url}/model.onnx", tmp_path / "out")
    fetch(f"{url}/model.onnx", tmp_path / "out")  # records the ETag it checked
    assert fetch(f"{url}/model.onnx", tmp_path / "out").reused
    (root / "model.onnx").write_bytes(ONNX_BYTES[::-1])
    assert not fetch(f"{url}/model.onnx", tmp_path / "out").reused
    assert (tmp_path / "out" / "model.onnx").read_bytes() == ONNX_BYTES[::-1]


def test_the_fetch_command_into_an_existing_folder_gets_the_new_model(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _package_into(tmp_path / "model", b"old")
    assert main(["fetch", f"file://{tmp_path}/model", str(tmp_path / "out")]) == 0
    _package_into(tmp_path / "model", b"newer")
    assert main(["fetch", f"file://{tmp_path}/model", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("fetched: ")
    assert (tmp_path / "out" / "model.pt").read_bytes() == b"newer"


def test_http_errors_have_distinct_codes(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "secret").mkdir()
    (root / "secret" / "m.onnx").write_bytes(ONNX_BYTES)
    with pytest.raises(RuntimeFailure) as missing:
        fetch(f"{url}/nope.onnx", tmp_path / "a")
    assert missing.value.code == ExitCode.SOURCE_NOT_FOUND
    with pytest.raises(RuntimeFailure) as denied:
        fetch(f"{url}/secret/m.onnx", tmp_path / "b")
    assert denied.value.code == ExitCode.ACCESS_DENIED
    with pytest.raises(RuntimeFailure) as big:
        fetch(f"{url}/secret/m.onnx", tmp_path / "c", max_bytes=10)
    assert big.value.code in (ExitCode.ACCESS_DENIED, ExitCode.TOO_LARGE)


def test_bearer_token_from_mounted_secret(http_root: tuple[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = http_root
    (root / "secret").mkdir()
    (root / "secret" / "m.onnx").write_bytes(ONNX_BYTES)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "token").write_text("s3cr3t\n")
    monkeypatch.setenv("MODELDEPLOY_CREDENTIALS_DIR", str(creds))
    fetch(f"{url}/secret/m.onnx", tmp_path / "out")
    assert (tmp_path / "out" / "m.onnx").exists()


def test_size_limit(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "model.onnx").write_bytes(ONNX_BYTES)
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"{url}/model.onnx", tmp_path / "out", max_bytes=100)
    assert caught.value.code == ExitCode.TOO_LARGE and not (tmp_path / "out").exists()


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_tar_gz_is_unpacked(tmp_path: Path) -> None:
    _tar(tmp_path / "m.tar.gz", [_file("resnet/model.onnx", ONNX_BYTES)])
    fetch(f"file://{tmp_path}/m.tar.gz", tmp_path / "out")
    assert (tmp_path / "out" / "resnet" / "model.onnx").read_bytes() == ONNX_BYTES


@pytest.mark.parametrize("member", ["../escape.txt", "/etc/evil.txt"])
def test_tar_slip_is_refused(tmp_path: Path, member: str) -> None:
    _tar(tmp_path / "evil.tar.gz", [_file(member, b"x")])
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{tmp_path}/evil.tar.gz", tmp_path / "out")
    assert caught.value.code == ExitCode.UNSAFE_ARCHIVE
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()


def test_tar_symlink_escape_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("model.onnx")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    _tar(tmp_path / "evil.tar.gz", [(link, None)])
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{tmp_path}/evil.tar.gz", tmp_path / "out")
    assert caught.value.code == ExitCode.UNSAFE_ARCHIVE


def test_zip_slip_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("ok/model.onnx", ONNX_BYTES)
        zf.writestr("../../escape.txt", b"x")
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{tmp_path}/evil.zip", tmp_path / "out")
    assert caught.value.code == ExitCode.UNSAFE_ARCHIVE and "escape.txt" in caught.value.reason
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "out").exists()


def test_refetch_replaces_the_old_artifact_atomically(tmp_path: Path) -> None:
    (tmp_path / "a.onnx").write_bytes(ONNX_BYTES)
    (tmp_path / "b.onnx").write_bytes(ONNX_BYTES[::-1])
    fetch(f"file://{tmp_path}/a.onnx", tmp_path / "out")
    fetch(f"file://{tmp_path}/b.onnx", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(["b.onnx", MARKER])


def test_cli_exit_code_and_one_line_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.onnx").write_bytes(ONNX_BYTES)
    code = main(["fetch", f"file://{tmp_path}/model.onnx", str(tmp_path / "out"), "--sha256", "f" * 64])
    err = capsys.readouterr().err
    assert code == ExitCode.CHECKSUM_MISMATCH == 13
    assert err.startswith("CHECKSUM_MISMATCH: sha256 mismatch") and err.count("\n") == 1
    assert main(["fetch", f"file://{tmp_path}/missing.onnx", str(tmp_path / "o2")]) == ExitCode.SOURCE_NOT_FOUND


# -- archives: the size limit counts what they expand to (issue 11, item 6) ----------------------------


def _zeros_archive(path: Path, size: int) -> None:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("model/weights.bin", bytes(size))
    else:
        _tar(path, [_file("model/weights.bin", bytes(size))])


@pytest.mark.parametrize("name", ["bomb.zip", "bomb.tar.gz"])
def test_archive_expanding_past_max_bytes_is_refused_and_leaves_nothing(tmp_path: Path, name: str) -> None:
    _zeros_archive(tmp_path / name, 20_000_000)
    assert (tmp_path / name).stat().st_size < 100_000
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{tmp_path}/{name}", tmp_path / "out", max_bytes=1_000_000)
    assert caught.value.code == ExitCode.TOO_LARGE and "expands to 20000000 bytes" in caught.value.reason
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "fail closed: no output, no staging left"


@pytest.mark.parametrize("name", ["bomb.zip", "bomb.tar.gz"])
def test_archive_expanding_a_thousandfold_is_refused_whatever_the_limit(tmp_path: Path, name: str) -> None:
    _zeros_archive(tmp_path / name, 20_000_000)
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{tmp_path}/{name}", tmp_path / "out")
    assert caught.value.code == ExitCode.UNSAFE_ARCHIVE and "over the bound of 100×" in caught.value.reason
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_archive_of_real_weights_unpacks_under_the_bounds(tmp_path: Path) -> None:
    weights = os.urandom(2_000_000)
    _tar(tmp_path / "m.tar.gz", [_file("model/weights.bin", weights), _file("model/config.json", b"{}" * 5000)])
    fetch(f"file://{tmp_path}/m.tar.gz", tmp_path / "out", max_bytes=2_100_000)
    assert (tmp_path / "out" / "model" / "weights.bin").read_bytes() == weights


# -- folders: symlinks may not leave them (issue 11, item 7), one limit for the tree -----------------


def _model_folder(root: Path) -> Path:
    (root / "1").mkdir(parents=True)
    (root / "1" / "model.onnx").write_bytes(ONNX_BYTES)
    (root / "config.pbtxt").write_text('name: "m"\n')
    return root


def test_folder_symlink_leaving_the_tree_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("do not copy me")
    source = _model_folder(tmp_path / "model")
    (source / "leak").symlink_to(secret)
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{source}", tmp_path / "out")
    assert caught.value.code == ExitCode.UNSAFE_SOURCE and "leak is a symlink to" in caught.value.reason
    assert not (tmp_path / "out").exists()
    assert not any("do not copy me" in p.read_text(errors="ignore") for p in tmp_path.rglob("*")
                   if p.is_file() and not p.is_symlink() and p != secret)


def test_folder_symlink_inside_the_tree_is_copied_as_a_file(tmp_path: Path) -> None:
    source = _model_folder(tmp_path / "model")
    (source / "latest.onnx").symlink_to("1/model.onnx")
    fetch(f"file://{source}", tmp_path / "out")
    copied = tmp_path / "out" / "latest.onnx"
    assert not copied.is_symlink() and copied.read_bytes() == ONNX_BYTES


@pytest.mark.parametrize("target,words", [
    ("/etc/hostname", "symlink to /etc/hostname, outside the model folder"),
    ("../../elsewhere/model.onnx", "outside the model folder"),
    ("missing.onnx", "which is not a file"),
    ("1", "symlink to a folder"),
], ids=["host file", "relative escape", "dangling", "folder"])
def test_other_folder_symlinks_are_refused(tmp_path: Path, target: str, words: str) -> None:
    source = _model_folder(tmp_path / "a" / "model")
    (source / "link").symlink_to(target)
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{source}", tmp_path / "out")
    assert caught.value.code == ExitCode.UNSAFE_SOURCE and words in caught.value.reason
    assert not (tmp_path / "out").exists()


def test_folder_size_limit_counts_the_whole_tree(tmp_path: Path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    for index in range(3):
        (source / f"shard-{index}.bin").write_bytes(bytes(400_000))
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{source}", tmp_path / "out", max_bytes=1_000_000)
    assert caught.value.code == ExitCode.TOO_LARGE and not (tmp_path / "out").exists()


# -- the tree digest: documented, reproducible with coreutils, pinned by --tree-sha256 ----------------


def test_tree_digest_is_what_sha256sum_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _model_folder(tmp_path / "model")
    (source / "tokenizer").mkdir()
    (source / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (source / "Zeta.txt").write_text("upper case sorts first in C")
    shell = subprocess.run("find -L . -type f ! -path ./.modeldeploy-fetch.json -printf '%P\\0' | LC_ALL=C sort -z "
                           "| xargs -0r sha256sum | sha256sum", shell=True, cwd=source, capture_output=True,
                           text=True, check=True).stdout.split()[0]
    assert main(["digest", str(source)]) == 0
    assert capsys.readouterr().out == f"treeSha256: {shell}\n"


def test_tree_digest_pins_a_folder_and_an_archive_alike(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _model_folder(tmp_path / "model")
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        tar.add(source, arcname=".")
    assert main(["digest", str(source)]) == 0
    digest = capsys.readouterr().out.split()[-1]
    assert main(["digest", str(tmp_path / "model.tar.gz")]) == 0
    archive_lines = capsys.readouterr().out.splitlines()
    assert archive_lines[1] == f"treeSha256: {digest}" and archive_lines[0].startswith("sha256: ")
    for uri in (f"file://{source}", f"file://{tmp_path}/model.tar.gz"):
        result = fetch(uri, tmp_path / "out", tree_sha256=digest)
        assert result.tree_sha256 == digest and (tmp_path / "out" / "1" / "model.onnx").exists()
        assert main(["digest", str(tmp_path / "out")]) == 0  # a fetched folder digests the same
        assert capsys.readouterr().out == f"treeSha256: {digest}\n"


def test_tree_digest_mismatch_fails_closed(tmp_path: Path) -> None:
    source = _model_folder(tmp_path / "model")
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{source}", tmp_path / "out", tree_sha256="0" * 64)
    assert caught.value.code == ExitCode.CHECKSUM_MISMATCH and "tree sha256 mismatch" in caught.value.reason
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_file_sha256_on_a_folder_points_to_the_tree_digest(tmp_path: Path) -> None:
    source = _model_folder(tmp_path / "model")
    with pytest.raises(RuntimeFailure) as caught:
        fetch(f"file://{source}", tmp_path / "out", sha256="0" * 64)
    assert caught.value.code == ExitCode.BAD_ARTIFACT and "--tree-sha256" in caught.value.reason


# -- spec.model.storage for http(s): a private CA, a proxy ------------------------------------------


def test_https_with_a_private_ca_needs_the_ca_bundle(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "model.onnx").write_bytes(ONNX_BYTES)
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(root)))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        https = f"https://127.0.0.1:{server.server_address[1]}/model.onnx"
        with pytest.raises(RuntimeFailure) as caught:
            fetch(https, tmp_path / "a")
        assert caught.value.code == ExitCode.NETWORK and "storage.caBundle" in caught.value.reason
        fetch(https, tmp_path / "b", sha256=_sha(ONNX_BYTES), settings=StorageSettings(ca_bundle=ca))
        assert (tmp_path / "b" / "model.onnx").read_bytes() == ONNX_BYTES
    finally:
        server.shutdown()
        server.server_close()


def test_http_goes_through_the_proxy_unless_no_proxy_says_otherwise(http_root: tuple[str, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = http_root
    (root / "model.onnx").write_bytes(ONNX_BYTES)
    with forward_proxy() as (proxy, relayed):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        fetch(f"{url}/model.onnx", tmp_path / "a")
        assert relayed == [f"GET {url}/model.onnx"]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        fetch(f"{url}/model.onnx", tmp_path / "b")
        assert len(relayed) == 1
    assert (tmp_path / "b" / "model.onnx").read_bytes() == ONNX_BYTES
