"""gs:// sources through google-cloud-storage (the `gcs` extra): streamed, size-limited.

Credentials: the mounted credentials Secret's `service-account.json` key, else
Application Default Credentials. With STORAGE_EMULATOR_HOST set (a local
emulator), anonymous credentials.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..errors import ExitCode, RuntimeFailure
from .digest import copy_stream, file_chunks


def _client():  # noqa: ANN202 - google.cloud.storage.Client
    from google.cloud import storage  # noqa: PLC0415 - optional extra
    folder = os.environ.get("MODELDEPLOY_CREDENTIALS_DIR")
    key_file = Path(folder) / "service-account.json" if folder else None
    if key_file and key_file.is_file():
        return storage.Client.from_service_account_json(str(key_file))
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415
        return storage.Client(project="emulator", credentials=AnonymousCredentials())
    return storage.Client()


def fetch_gcs(uri: str, staging: Path, max_bytes: int) -> tuple[Path, str]:
    try:
        from google.api_core import exceptions as gexc  # noqa: PLC0415
        from google.auth.exceptions import GoogleAuthError  # noqa: PLC0415
    except ImportError:
        raise RuntimeFailure(ExitCode.UNSUPPORTED, "gs:// needs google-cloud-storage: pip install 'modeldeploy[gcs]'") \
            from None
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    target = staging / (PurePosixPath(key).name or "artifact")
    try:
        blob = _client().bucket(bucket).get_blob(key)
        if blob is None:
            raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"gs://{bucket}/{key}: no such object")
        if blob.size is not None and blob.size > max_bytes:
            raise RuntimeFailure(ExitCode.TOO_LARGE, f"gs://{bucket}/{key} is {blob.size} bytes, over {max_bytes}")
        with blob.open("rb") as handle:
            digest, _ = copy_stream(file_chunks(handle), target, max_bytes)
        return target, digest
    except gexc.NotFound:
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"gs://{bucket}/{key}: not found") from None
    except (gexc.Forbidden, gexc.Unauthorized, GoogleAuthError) as err:
        raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"gs://{bucket}/{key}: {type(err).__name__}; "
                                                     "check credentialsSecret") from None
    except gexc.GoogleAPIError as err:
        raise RuntimeFailure(ExitCode.NETWORK, f"gs://{bucket}/{key}: {type(err).__name__}") from None
