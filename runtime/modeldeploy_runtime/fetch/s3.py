"""s3:// sources through boto3 (the `s3` extra): streamed, size-limited.

Credentials come the way boto3 finds them (environment, instance roles), or
from the mounted credentials Secret: keys AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN). AWS_ENDPOINT_URL
points at S3-compatible stores (MinIO, Ceph).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..errors import ExitCode, RuntimeFailure
from .digest import CHUNK, copy_stream

_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _credentials() -> dict[str, str]:
    folder = os.environ.get("MODELDEPLOY_CREDENTIALS_DIR")
    found = {}
    for key in _SECRET_KEYS:
        path = Path(folder) / key if folder else None
        if path and path.is_file():
            found[key.lower()] = path.read_text().strip()
    return found


def fetch_s3(uri: str, staging: Path, max_bytes: int) -> tuple[Path, str]:
    try:
        import boto3  # noqa: PLC0415 - optional extra
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
    except ImportError:
        raise RuntimeFailure(ExitCode.UNSUPPORTED, "s3:// needs boto3: pip install 'modeldeploy[s3]'") from None
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    target = staging / (PurePosixPath(key).name or "artifact")
    client = boto3.client("s3", **_credentials())
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        if response.get("ContentLength", 0) > max_bytes:
            raise RuntimeFailure(ExitCode.TOO_LARGE, f"s3://{bucket}/{key} is {response['ContentLength']} bytes, "
                                                     f"over the limit of {max_bytes}")
        digest, _ = copy_stream(response["Body"].iter_chunks(CHUNK), target, max_bytes)
        return target, digest
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"s3://{bucket}/{key}: {code}") from None
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"s3://{bucket}/{key}: {code}; check credentialsSecret") \
                from None
        raise RuntimeFailure(ExitCode.NETWORK, f"s3://{bucket}/{key}: {code or err}") from None
    except BotoCoreError as err:
        raise RuntimeFailure(ExitCode.NETWORK, f"s3://{bucket}/{key}: {type(err).__name__}") from None
