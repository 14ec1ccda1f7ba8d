"""`modeldeploy fetch SRC DEST`: get a model, verify it, place it atomically.

DEST ends up as a folder holding the artifact (or an archive's contents, or
a store folder's objects), or not at all: everything happens in a temporary
sibling folder that replaces DEST in one rename once verified. A DEST already
holding the same source is left as is when that is proven: by the pinned
digest (sha256, treeSha256), else by the source's fingerprint (fingerprint.py)
being what it was when DEST was fetched; otherwise the source is fetched again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from modeldeploy.api import ModelDeployment

from ..errors import ExitCode, RuntimeFailure
from .archive import is_archive, unpack
from .digest import sha256_of
from .fingerprint import source_fingerprint
from .gcs import fetch_gcs
from .http import fetch_http
from .local import fetch_local
from .s3 import fetch_s3
from .settings import StorageSettings
from .tree import MARKER, tree_digest

DEFAULT_MAX_BYTES = 64 << 30

__all__ = ["DEFAULT_MAX_BYTES", "MARKER", "FetchResult", "StorageSettings", "fetch", "storage_settings"]


@dataclass(frozen=True)
class FetchResult:
    dest: Path
    sha256: str | None
    reused: bool
    tree_sha256: str | None = None


def storage_settings(md: ModelDeployment) -> StorageSettings:
    """spec.model.storage as local serving uses it (credentials come from the environment there)."""
    storage = md.spec.model.storage
    if storage is None:
        return StorageSettings()
    return StorageSettings(endpoint=storage.endpoint, region=storage.region, path_style=bool(storage.path_style))


def fetch(src: str, dest: Path, *, sha256: str | None = None, tree_sha256: str | None = None,
          base_dir: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
          settings: StorageSettings = StorageSettings()) -> FetchResult:
    dest = Path(dest)
    base_dir = base_dir or Path.cwd()
    parts = urlsplit(src)
    if parts.scheme in ("s3", "gs") and "@" in parts.netloc:
        # Never echoed: what stands before '@' is a key. Object stores take no credentials in the URI.
        raise RuntimeFailure(ExitCode.USAGE, f"{parts.scheme}:// URIs carry no credentials (there is user info "
                                             f"before '@'); give them in the environment (AWS_ACCESS_KEY_ID and "
                                             f"AWS_SECRET_ACCESS_KEY, or GOOGLE_APPLICATION_CREDENTIALS) or, in a "
                                             f"ModelDeployment, in storage.credentialsSecret")
    identity = {"source": src, "endpoint": settings.endpoint}
    recorded = _recorded(dest, identity)
    fingerprint = None
    if sha256 is None and tree_sha256 is None and (recorded is not None or urlsplit(src).scheme == "file"):
        # Taken before the download: a source changed while it is copied differs next time. A remote
        # source costs a request (HEAD, listing), spent only where DEST holds an earlier fetch of it.
        fingerprint = source_fingerprint(src, base_dir, settings)
    if recorded is not None and _proven_same(recorded, sha256, tree_sha256, fingerprint):
        return FetchResult(dest=dest, sha256=recorded.get("sha256"), reused=True,
                           tree_sha256=recorded.get("tree_sha256"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    try:
        artifact, digest = _download(src, staging / "download", base_dir, max_bytes, settings)
        if sha256 is not None:
            digest = _verified_file(artifact, digest, sha256, src)
        ready = staging / "ready"
        if artifact.is_file() and is_archive(artifact):
            unpack(artifact, ready, max_bytes)
        elif artifact.is_dir():
            artifact.rename(ready)
        else:
            ready.mkdir()
            artifact.rename(ready / artifact.name)
        tree = None
        if tree_sha256 is not None:
            tree = tree_digest(ready)
            if tree != tree_sha256:
                raise RuntimeFailure(ExitCode.CHECKSUM_MISMATCH, f"tree sha256 mismatch for {src}: expected "
                                                                 f"{tree_sha256}, got {tree}")
        (ready / MARKER).write_text(json.dumps({**identity, "sha256": digest, "tree_sha256": tree,
                                                   "fingerprint": fingerprint}))
        _swap_into_place(ready, dest)
        return FetchResult(dest=dest, sha256=digest, reused=False, tree_sha256=tree)
    finally:
        shutil.rmtree(staging, ignore_errors=True)



def _verified_file(artifact: Path, digest: str | None, expected: str, src: str) -> str:
    if artifact.is_dir():
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"sha256 is the digest of one file or archive, and {src} is a "
                                                    "folder: give its tree digest (--tree-sha256, spec.model."
                                                    "treeSha256; `modeldeploy digest DIR` prints it)")
    digest = digest or sha256_of(artifact)
    if digest != expected:
        raise RuntimeFailure(ExitCode.CHECKSUM_MISMATCH,
                             f"sha256 mismatch for {artifact.name}: expected {expected}, got {digest}")
    return digest


def _download(src: str, into: Path, base_dir: Path, max_bytes: int,
              settings: StorageSettings) -> tuple[Path, str | None]:
    into.mkdir(parents=True)
    scheme = urlsplit(src).scheme.lower()
    if scheme == "file":
        return fetch_local(src, into, base_dir, max_bytes)
    if scheme in ("http", "https"):
        return fetch_http(src, into, max_bytes, settings)
    if scheme == "s3":
        return fetch_s3(src, into, max_bytes, settings), None
    if scheme == "gs":
        return fetch_gcs(src, into, max_bytes, settings), None
    raise RuntimeFailure(ExitCode.UNSUPPORTED, f"unsupported source {src!r}; use file:, http(s)://, s3:// or gs://")


def _recorded(dest: Path, identity: dict) -> dict | None:
    """What DEST's marker says was fetched there, if it was this source."""
    try:
        recorded = json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or not all(recorded.get(k) == v for k, v in identity.items()):
        return None
    return recorded


def _proven_same(recorded: dict, sha256: str | None, tree_sha256: str | None, fingerprint: str | None) -> bool:
    if sha256 is None and tree_sha256 is None:
        # Nothing pinned: only an unchanged fingerprint proves DEST still holds what the source holds.
        return fingerprint is not None and recorded.get("fingerprint") == fingerprint
    return sha256 in (None, recorded.get("sha256")) and tree_sha256 in (None, recorded.get("tree_sha256"))


def _swap_into_place(ready: Path, dest: Path) -> None:
    if not dest.exists():
        ready.rename(dest)
        return
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    dest.rename(old)
    ready.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
