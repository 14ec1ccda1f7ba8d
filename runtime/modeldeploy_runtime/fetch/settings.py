"""How fetch reaches a store: what spec.model.storage turns into, plus the mounted credentials."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The credentials Secret is mounted here in the fetch container (one file per key).
CREDENTIALS_DIR_ENV = "MODELDEPLOY_CREDENTIALS_DIR"
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class StorageSettings:
    endpoint: str | None = None   # s3: an S3-compatible endpoint; else AWS_ENDPOINT_URL or AWS
    region: str | None = None
    path_style: bool = False
    ca_bundle: Path | None = None  # extra CA certificates (PEM) for https
    workers: int = DEFAULT_WORKERS  # parallel downloads


def credential_file(name: str) -> Path | None:
    """A key of the mounted credentials Secret, if it is there."""
    folder = os.environ.get(CREDENTIALS_DIR_ENV)
    path = Path(folder) / name if folder else None
    return path if path and path.is_file() else None


def credential(name: str) -> str | None:
    path = credential_file(name)
    return path.read_text().strip() if path else None
