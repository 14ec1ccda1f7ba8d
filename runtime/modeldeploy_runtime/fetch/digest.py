"""Streaming copies with a running sha256, under one size limit for everything a fetch writes."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import BinaryIO, Iterable

from ..errors import ExitCode, RuntimeFailure

CHUNK = 1 << 20


class SizeBudget:
    """The bytes a fetch may still write (--max-bytes), shared by every file and thread of it."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int, what: str = "the model") -> None:
        with self._lock:
            self.used += size
            if self.used > self.max_bytes:
                raise RuntimeFailure(ExitCode.TOO_LARGE, f"{what} exceeds the size limit of {self.max_bytes} bytes "
                                                         "(--max-bytes)")


def copy_stream(chunks: Iterable[bytes], target: Path, budget: SizeBudget | int) -> tuple[str, int]:
    """Write chunks to target; return (sha256 hex, size). Refuse beyond the budget."""
    if isinstance(budget, int):
        budget = SizeBudget(budget)
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        for chunk in chunks:
            budget.take(len(chunk))
            size += len(chunk)
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
