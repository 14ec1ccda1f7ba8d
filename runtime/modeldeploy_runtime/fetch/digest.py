"""Streaming copy with a running sha256 and a size limit."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, Iterable

from ..errors import ExitCode, RuntimeFailure

CHUNK = 1 << 20


def copy_stream(chunks: Iterable[bytes], target: Path, max_bytes: int) -> tuple[str, int]:
    """Write chunks to target; return (sha256 hex, size). Refuse beyond max_bytes."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise RuntimeFailure(ExitCode.TOO_LARGE, f"artifact exceeds the size limit of {max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def file_chunks(handle: BinaryIO) -> Iterable[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in file_chunks(handle):
            digest.update(chunk)
    return digest.hexdigest()
