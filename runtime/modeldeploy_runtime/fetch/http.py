"""http(s):// sources: streamed, retried with backoff, size-limited."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import urllib3
from urllib3.util.retry import Retry

from ..errors import ExitCode, RuntimeFailure
from .digest import CHUNK, copy_stream

RETRY = Retry(total=5, connect=5, read=3, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
              allowed_methods=frozenset({"GET"}), raise_on_status=False, respect_retry_after_header=True)


def _headers() -> dict[str, str]:
    # A bearer token from the mounted credentials Secret (key "token"), if any.
    creds = os.environ.get("MODELDEPLOY_CREDENTIALS_DIR")
    token_file = Path(creds) / "token" if creds else None
    if token_file and token_file.is_file():
        return {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    return {}


def fetch_http(uri: str, staging: Path, max_bytes: int, timeout_seconds: float = 30.0) -> tuple[Path, str]:
    name = PurePosixPath(urlsplit(uri).path).name or "artifact"
    target = staging / name
    pool = urllib3.PoolManager(retries=RETRY, timeout=urllib3.Timeout(connect=10.0, read=timeout_seconds))
    try:
        response = pool.request("GET", uri, headers=_headers(), preload_content=False)
    except urllib3.exceptions.HTTPError as err:
        raise RuntimeFailure(ExitCode.NETWORK, f"GET {_safe(uri)} failed: {type(err).__name__}") from None
    try:
        if response.status in (401, 403):
            raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"GET {_safe(uri)}: HTTP {response.status}; check credentialsSecret")
        if response.status == 404:
            raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"GET {_safe(uri)}: HTTP 404")
        if response.status >= 400:
            raise RuntimeFailure(ExitCode.NETWORK, f"GET {_safe(uri)}: HTTP {response.status} after retries")
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise RuntimeFailure(ExitCode.TOO_LARGE, f"artifact is {length} bytes, over the limit of {max_bytes}")
        try:
            digest, _ = copy_stream(response.stream(CHUNK), target, max_bytes)
        except urllib3.exceptions.HTTPError as err:
            raise RuntimeFailure(ExitCode.NETWORK, f"download of {_safe(uri)} broke off: {type(err).__name__}") from None
        return target, digest
    finally:
        response.release_conn()


def _safe(uri: str) -> str:
    """The URI without user info or query string, which may carry credentials."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
