"""A cheap fingerprint of a source, to tell whether a fetched copy is still that source.

A destination fetched before is reused without a pinned digest only when the
source provably did not change: the same fingerprint now as when it was
fetched. Anything that cannot be fingerprinted cheaply gives None, and None
never matches, so the source is fetched again.

- file: every file's path, size and modification time (a stat of the tree,
  no byte read). A model re-packaged into the same folder changes them.
- http(s): the server's ETag (a HEAD request); without one, None: a
  Last-Modified date counts whole seconds and would miss a quick rewrite.
- s3:// and gs://: the listing's key, size and version (ETag, generation) of
  every object, which is what the download itself would pin.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit

import urllib3

from ..errors import RuntimeFailure
from .http import pool_for, request_headers
from .local import resolve
from .settings import StorageSettings
from .tree import tree_files


def source_fingerprint(src: str, base_dir: Path, settings: StorageSettings) -> str | None:
    scheme = urlsplit(src).scheme.lower()
    try:
        if scheme == "file":
            found = _local(resolve(src, base_dir))
        elif scheme in ("http", "https"):
            found = _http_etag(src, settings)
        elif scheme in ("s3", "gs"):
            found = _listing(src, scheme, settings)
        else:
            found = None
    except (RuntimeFailure, OSError, urllib3.exceptions.HTTPError):
        # The download that follows reports what is wrong, with its own exit code.
        return None
    if found is None:
        return None
    return hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()


def _local(source: Path) -> object | None:
    if source.is_dir():
        return [(relative, *_stat(path)) for relative, path in tree_files(source)]
    if source.is_file():
        return _stat(source)
    return None


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _http_etag(src: str, settings: StorageSettings) -> str | None:
    # The download's own proxy, CA and credentials, but no retries: a source that does not answer a
    # HEAD at once is simply fetched again, and that download reports why it fails.
    response = pool_for(src, settings, 10.0, retries=False).request("HEAD", src, headers=request_headers())
    return response.headers.get("ETag") if response.status == 200 else None


def _listing(src: str, scheme: str, settings: StorageSettings) -> object | None:
    parts = urlsplit(src)
    if scheme == "s3":
        from .s3 import S3Store as Store  # noqa: PLC0415 - optional extra
    else:
        from .gcs import GcsStore as Store  # noqa: PLC0415 - optional extra
    store = Store(parts.netloc, settings)
    key = parts.path.lstrip("/")
    if key.endswith("/") or not key:
        listed = store.list(key)
    else:
        listed = [obj] if (obj := store.head(key)) is not None else []
    return sorted((o.key, o.size, o.version) for o in listed) or None
