"""s3:// sources through boto3 (the `s3` extra): one object, or a folder (a key ending in /).

Credentials: the mounted credentials Secret's AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (optionally AWS_SESSION_TOKEN), else wherever boto3
finds them (environment, instance or pod identity). The endpoint comes from
--endpoint (spec.model.storage.endpoint), else AWS_ENDPOINT_URL, else AWS.
Reads are conditional on the listed ETag (If-Match): see objects.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, NoReturn
from urllib.parse import urlsplit

from ..errors import ExitCode, RuntimeFailure
from .digest import CHUNK
from .objects import RemoteObject, fetch_objects, source_changed
from .settings import StorageSettings, credential

_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
           "AllAccessDisabled", "AccountProblem"}
_MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_CHANGED = {"PreconditionFailed", "412"}
CREDENTIALS_HINT = ("check spec.model.storage.credentialsSecret (keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) "
                    "and the bucket's policy")


class S3Store:
    def __init__(self, bucket: str, settings: StorageSettings):
        try:
            import boto3  # noqa: PLC0415 - optional extra
            from botocore.config import Config  # noqa: PLC0415
            from botocore import exceptions  # noqa: PLC0415
        except ImportError:
            raise RuntimeFailure(ExitCode.UNSUPPORTED, "s3:// needs boto3: pip install 'modeldeploy[s3]'") from None
        self.bucket = bucket
        self._errors = exceptions
        config = Config(
            max_pool_connections=settings.workers + 2,
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10, read_timeout=60,
            s3={"addressing_style": "path" if settings.path_style else "auto"},
        )
        keys = {key.lower(): value for key in _SECRET_KEYS if (value := credential(key))}
        self._client = boto3.client("s3", endpoint_url=settings.endpoint, region_name=settings.region,
                                    verify=str(settings.ca_bundle) if settings.ca_bundle else None,
                                    config=config, **keys)

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def list(self, prefix: str) -> list[RemoteObject]:
        found = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found += [RemoteObject(o["Key"], o["Size"], o["ETag"]) for o in page.get("Contents", [])]
        except Exception as err:  # noqa: BLE001 - mapped to a reason, or re-raised
            self._fail(err, prefix)
        return found

    def head(self, key: str) -> RemoteObject | None:
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        except Exception as err:  # noqa: BLE001
            if _code(err) in ("404", "NoSuchKey", "NotFound"):
                return None
            self._fail(err, key)
        return RemoteObject(key, response["ContentLength"], response["ETag"])

    def read(self, obj: RemoteObject, start: int, end: int) -> Iterable[bytes]:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=obj.key, IfMatch=obj.version,
                                               Range=f"bytes={start}-{end - 1}")
            yield from response["Body"].iter_chunks(CHUNK)
        except Exception as err:  # noqa: BLE001
            self._fail(err, obj.key)

    def verify(self, obj: RemoteObject, path: Path) -> None:
        """If-Match already pinned every byte to the listed ETag."""

    def _fail(self, err: Exception, key: str) -> NoReturn:
        where = self.describe(key)
        errors = self._errors
        if isinstance(err, RuntimeFailure):
            raise err
        code = _code(err)
        if code in _CHANGED:
            raise source_changed(where, "its ETag no longer matches the listing") from None
        if code in _MISSING:
            raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{where}: {code}") from None
        if code in _DENIED:
            raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"{where}: {code}; {CREDENTIALS_HINT}") from None
        if isinstance(err, errors.NoCredentialsError):
            raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"{where}: no credentials found; set "
                                                         "spec.model.storage.credentialsSecret or give the pod an "
                                                         "identity") from None
        if isinstance(err, errors.SSLError):
            raise RuntimeFailure(ExitCode.NETWORK, f"{where}: TLS failed ({err}); for a private CA set "
                                                   "spec.model.storage.caBundle") from None
        if isinstance(err, errors.ClientError):
            raise RuntimeFailure(ExitCode.NETWORK, f"{where}: {code or err}") from None
        if isinstance(err, errors.BotoCoreError):
            raise RuntimeFailure(ExitCode.NETWORK, f"{where}: {type(err).__name__}: {err}") from None
        raise err


def _code(err: Exception) -> str:
    response: Any = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def fetch_s3(uri: str, staging: Path, max_bytes: int, settings: StorageSettings) -> Path:
    parts = urlsplit(uri)
    return fetch_objects(S3Store(parts.netloc, settings), parts.path.lstrip("/"), staging, max_bytes,
                         settings.workers)
