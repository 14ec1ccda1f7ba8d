"""http(s):// sources: streamed, retried with backoff, size-limited.

A bearer token comes from the mounted credentials Secret (key `token`); the
proxy from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (spec.model.storage.proxy);
extra CA certificates from --ca-bundle (spec.model.storage.caBundle).
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import urllib3
from urllib3.util.retry import Retry

from ..errors import ExitCode, RuntimeFailure
from .digest import CHUNK, copy_stream
from .settings import StorageSettings, credential

class AnnouncedRetry(Retry):
    """urllib3's Retry, saying on stderr what failed before each wait: 15 silent seconds look like a hang."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # noqa: ANN001, ANN201
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when none are left
        where = f"{_pool.host}:{_pool.port}" if _pool is not None else "the server"
        wait = retry.get_retry_after(response) if response is not None else None
        wait = retry.get_backoff_time() if wait is None else wait
        print(f"fetch: {failure_words(error, response)} at {where}, retrying ({len(retry.history)}/{RETRIES}) "
              f"in {wait:.1f}s", file=sys.stderr, flush=True)
        return retry


def failure_words(error: Exception | None, response: urllib3.BaseHTTPResponse | None = None) -> str:
    text = str(error or "")
    if response is not None and error is None:
        return f"HTTP {response.status}"
    if "refused" in text.lower():
        return "connection refused"
    if isinstance(error, urllib3.exceptions.NameResolutionError):
        return "unknown host"
    if isinstance(error, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return "timed out"
    return type(error).__name__ if error else "failed"


RETRIES = 5
# A TLS verification failure (other=0) will not pass on a retry.
RETRY = AnnouncedRetry(total=RETRIES, connect=RETRIES, read=3, other=0, backoff_factor=0.5,
                       status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                       raise_on_status=False, respect_retry_after_header=True)


def request_headers() -> dict[str, str]:
    token = credential("token")
    return {"Authorization": f"Bearer {token}"} if token else {}


def pool_for(uri: str, settings: StorageSettings, timeout_seconds: float,
             retries: Retry | bool = RETRY) -> urllib3.PoolManager:
    options = {"retries": retries, "timeout": urllib3.Timeout(connect=10.0, read=timeout_seconds)}
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
    pool = pool_for(uri, settings, timeout_seconds)
    try:
        response = pool.request("GET", uri, headers=request_headers(), preload_content=False)
    except urllib3.exceptions.HTTPError as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, urllib3.exceptions.SSLError):
            raise RuntimeFailure(ExitCode.NETWORK, f"GET {_safe(uri)}: TLS verification failed; for a private CA "
                                                   "set spec.model.storage.caBundle") from None
        if isinstance(err, urllib3.exceptions.MaxRetryError):
            raise RuntimeFailure(ExitCode.NETWORK, f"{failure_words(reason)} at {_where(uri)} after {RETRIES} "
                                                   f"retries (GET {_safe(uri)})") from None
        raise RuntimeFailure(ExitCode.NETWORK, f"GET {_safe(uri)} failed: {failure_words(err)}") from None
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


def _where(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _safe(uri: str) -> str:
    """The URI without user info or query string, which may carry credentials."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
