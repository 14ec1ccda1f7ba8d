"""gs:// sources through google-cloud-storage (the `gcs` extra): one object, or a folder (a key ending in /).

Credentials: the mounted credentials Secret's `service-account.json` key,
else Application Default Credentials (workload identity). With
STORAGE_EMULATOR_HOST set (a local emulator), anonymous credentials.
Reads are conditional on the listed generation, and each file's crc32c is
checked against the listing afterwards: see objects.py.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Iterable, NoReturn
from urllib.parse import urlsplit

from ..errors import ExitCode, RuntimeFailure
from .digest import file_chunks
from .objects import RemoteObject, fetch_objects, source_changed
from .settings import StorageSettings, credential_file

CREDENTIALS_HINT = "check spec.model.storage.credentialsSecret (key service-account.json) and the bucket's IAM"


class GcsStore:
    def __init__(self, bucket: str, settings: StorageSettings):
        try:
            from google.api_core import exceptions  # noqa: PLC0415 - optional extra
            from google.auth.exceptions import GoogleAuthError  # noqa: PLC0415
            from google.cloud import storage  # noqa: PLC0415
        except ImportError:
            raise RuntimeFailure(ExitCode.UNSUPPORTED,
                                 "gs:// needs google-cloud-storage: pip install 'modeldeploy[gcs]'") from None
        self._errors = exceptions
        self._auth_error = GoogleAuthError
        self.name = bucket
        if settings.ca_bundle:
            # The client's HTTP session is requests', which trusts this bundle; fetch is a one-shot process.
            os.environ["REQUESTS_CA_BUNDLE"] = str(settings.ca_bundle)
        try:
            key_file = credential_file("service-account.json")
            if key_file:
                client = storage.Client.from_service_account_json(str(key_file))
            elif os.environ.get("STORAGE_EMULATOR_HOST"):
                from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415
                client = storage.Client(project="emulator", credentials=AnonymousCredentials())
            else:
                client = storage.Client()
        except Exception as err:  # noqa: BLE001
            self._fail(err, "")
        self._bucket = client.bucket(bucket)

    def describe(self, key: str) -> str:
        return f"gs://{self.name}/{key}"

    def list(self, prefix: str) -> list[RemoteObject]:
        try:
            return [_remote(blob) for blob in self._bucket.list_blobs(prefix=prefix)]
        except Exception as err:  # noqa: BLE001
            self._fail(err, prefix)

    def head(self, key: str) -> RemoteObject | None:
        try:
            blob = self._bucket.get_blob(key)
        except Exception as err:  # noqa: BLE001
            self._fail(err, key)
        return _remote(blob) if blob is not None else None

    def read(self, obj: RemoteObject, start: int, end: int) -> Iterable[bytes]:
        try:
            yield self._bucket.blob(obj.key).download_as_bytes(
                start=start, end=end - 1, if_generation_match=int(obj.version), checksum=None)
        except Exception as err:  # noqa: BLE001
            self._fail(err, obj.key)

    def verify(self, obj: RemoteObject, path: Path) -> None:
        if obj.checksum is None:
            return
        import google_crc32c  # noqa: PLC0415 - installed with google-cloud-storage

        crc = google_crc32c.Checksum()
        with path.open("rb") as handle:
            for chunk in file_chunks(handle):
                crc.update(chunk)
        if base64.b64encode(crc.digest()).decode() != obj.checksum:
            raise source_changed(self.describe(obj.key), "its crc32c no longer matches the listing")

    def _fail(self, err: Exception, key: str) -> NoReturn:
        where = self.describe(key)
        errors = self._errors
        if isinstance(err, RuntimeFailure):
            raise err
        if isinstance(err, errors.PreconditionFailed):
            raise source_changed(where, "its generation no longer matches the listing") from None
        if isinstance(err, errors.NotFound):
            raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{where}: not found") from None
        if isinstance(err, (errors.Forbidden, errors.Unauthorized, self._auth_error)):
            raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"{where}: {type(err).__name__}; {CREDENTIALS_HINT}") \
                from None
        if isinstance(err, errors.GoogleAPIError):
            raise RuntimeFailure(ExitCode.NETWORK, f"{where}: {type(err).__name__}") from None
        if isinstance(err, (OSError, ValueError)):
            raise RuntimeFailure(ExitCode.NETWORK, f"{where}: {type(err).__name__}: {err}") from None
        raise err


def _remote(blob) -> RemoteObject:  # noqa: ANN001 - google.cloud.storage.Blob
    return RemoteObject(blob.name, int(blob.size or 0), str(blob.generation), blob.crc32c)


def fetch_gcs(uri: str, staging: Path, max_bytes: int, settings: StorageSettings) -> Path:
    parts = urlsplit(uri)
    return fetch_objects(GcsStore(parts.netloc, settings), parts.path.lstrip("/"), staging, max_bytes,
                         settings.workers)
