"""`modeldeploy fetch SRC DEST`: get a model artifact, verify it, place it atomically.

DEST ends up as a folder holding the artifact (or an archive's contents), or
not at all: everything happens in a temporary sibling folder that replaces
DEST in one rename once verified. A DEST already holding the same verified
source is left as is.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ExitCode, RuntimeFailure
from .archive import is_archive, unpack
from .gcs import fetch_gcs
from .http import fetch_http
from .local import fetch_local
from .s3 import fetch_s3

MARKER = ".modeldeploy-fetch.json"
DEFAULT_MAX_BYTES = 64 << 30


@dataclass(frozen=True)
class FetchResult:
    dest: Path
    sha256: str | None
    reused: bool


def fetch(src: str, dest: Path, *, sha256: str | None = None, base_dir: Path | None = None,
          max_bytes: int = DEFAULT_MAX_BYTES) -> FetchResult:
    dest = Path(dest)
    reused = _already_there(dest, src, sha256)
    if reused is not None:
        return reused
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    try:
        artifact, digest = _download(src, staging / "download", base_dir or Path.cwd(), max_bytes)
        if sha256 is not None:
            if digest is None:
                raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"sha256 applies to a file or archive, not the folder {src}")
            if digest != sha256:
                raise RuntimeFailure(ExitCode.CHECKSUM_MISMATCH,
                                     f"sha256 mismatch for {artifact.name}: expected {sha256}, got {digest}")
        ready = staging / "ready"
        if artifact.is_file() and is_archive(artifact):
            unpack(artifact, ready)
        elif artifact.is_dir():
            artifact.rename(ready)
        else:
            ready.mkdir()
            artifact.rename(ready / artifact.name)
        (ready / MARKER).write_text(json.dumps({"source": src, "sha256": digest}))
        _swap_into_place(ready, dest)
        return FetchResult(dest=dest, sha256=digest, reused=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(src: str, into: Path, base_dir: Path, max_bytes: int) -> tuple[Path, str | None]:
    into.mkdir(parents=True)
    scheme = urlsplit(src).scheme.lower()
    if scheme == "file":
        return fetch_local(src, into, base_dir, max_bytes)
    if scheme in ("http", "https"):
        return fetch_http(src, into, max_bytes)
    if scheme == "s3":
        return fetch_s3(src, into, max_bytes)
    if scheme == "gs":
        return fetch_gcs(src, into, max_bytes)
    raise RuntimeFailure(ExitCode.UNSUPPORTED, f"unsupported source {src!r}; use file:, http(s)://, s3:// or gs://")


def _already_there(dest: Path, src: str, sha256: str | None) -> FetchResult | None:
    try:
        recorded = json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("source") == src and (sha256 is None or recorded.get("sha256") == sha256):
        return FetchResult(dest=dest, sha256=recorded.get("sha256"), reused=True)
    return None


def _swap_into_place(ready: Path, dest: Path) -> None:
    if not dest.exists():
        ready.rename(dest)
        return
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    dest.rename(old)
    ready.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
