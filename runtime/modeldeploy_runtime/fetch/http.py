"""http(s):// sources: streamed, retried with backoff, size-limited.

A bearer token comes from the mounted credentials Secret (key `token`); the
proxy from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (spec.model.storage.proxy);
extra CA certificates from --ca-bundle (spec.model.storage.caBundle).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import urllib3
from urllib3.util.retry import Retry

from ..errors import ExitCode, RuntimeFailure
from .digest import CHUNK, copy_stream
from .settings import StorageSettings, credential

# A TLS verification failure (other=0) will not pass on a retry.
RETRY = Retry(total=5, connect=5, read=3, other=0, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
              allowed_methods=frozenset({"GET"}), raise_on_status=False, respect_retry_after_header=True)


def _headers() -> dict[str, str]:
    token = credential("token")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _pool(uri: str, settings: StorageSettings, timeout_seconds: float) -> urllib3.PoolManager:
    options = {"retries": RETRY, "timeout": urllib3.Timeout(connect=10.0, read=timeout_seconds)}
    if settings.ca_bundle:
        options["ca_certs"] = str(settings.ca_bundle)
    parts = urlsplit(uri)
    # urllib3 reads no proxy settings itself; the standard library's reading of the environment decides.
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


def fetch_http(uri: str, staging: Path, max_bytes: int, settings: StorageSettings = StorageSettings(),
               timeout_seconds: float = 30.0) -> tuple[Path, str]:
    name = PurePosixPath(urlsplit(uri).path).name or "artifact"
    target = staging / name
    pool = _pool(uri, settings, timeout_seconds)
    try:
        response = pool.request("GET", uri, headers=_headers(), preload_content=False)
    except urllib3.exceptions.HTTPError as err:
        if isinstance(getattr(err, "reason", err), urllib3.exceptions.SSLError):
            raise RuntimeFailure(ExitCode.NETWORK, f"GET {_safe(uri)}: TLS verification failed; for a private CA "
                                                   "set spec.model.storage.caBundle") from None
        raise RuntimeFailure(ExitCode.NETWORK, f"GET {_safe(uri)} failed: {type(err).__name__}") from None
    try:
        if response.status in (401, 403):
            raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"GET {_safe(uri)}: HTTP {response.status}; check "
                                                         "spec.model.storage.credentialsSecret (key token)")
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
