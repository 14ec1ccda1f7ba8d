"""Objects of a store (S3, GCS) into a folder: listed first, then downloaded in parallel, verified.

One object or every object under a prefix: the listing fixes each object's
size and version (S3 ETag, GCS generation) before any byte is read. Every
read is a ranged GET conditional on that version, so an object replaced while
the fetch runs fails it (SOURCE_CHANGED) instead of mixing old and new bytes;
stores that ignore the condition are caught by the listed checksum where the
store gives one (GCS crc32c). Objects over 256 MiB are split into 64 MiB
ranged parts, and a bounded pool of threads downloads parts of all objects at
once, each written at its offset. The caller's staging folder makes the whole tree appear at
once or not at all.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Protocol

from ..errors import ExitCode, RuntimeFailure
from .tree import safe_relative

# Objects above the cutoff are read as several ranged streams at once (one connection's throughput is
# bounded on S3); smaller ones whole, saving requests and the cost some stores put on a range.
# rclone's defaults (multi-thread cutoff 256 MiB) and s5cmd's part size (50 MB) are of this order.
SPLIT_ABOVE_BYTES = 256 << 20
PART_BYTES = 64 << 20
PART_ATTEMPTS = 3


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    version: str            # what reads are conditional on
    checksum: str | None = None  # store-specific, checked after the download when given


def source_changed(where: str, evidence: str) -> RuntimeFailure:
    return RuntimeFailure(ExitCode.SOURCE_CHANGED, f"{where} changed while it was fetched ({evidence}); fetch "
                                                   "again once the upload is complete")


class ObjectStore(Protocol):
    def describe(self, key: str) -> str: ...
    def list(self, prefix: str) -> list[RemoteObject]: ...
    def head(self, key: str) -> RemoteObject | None: ...
    def read(self, obj: RemoteObject, start: int, end: int) -> Iterable[bytes]: ...
    def verify(self, obj: RemoteObject, path: Path) -> None: ...


def fetch_objects(store: ObjectStore, key: str, staging: Path, max_bytes: int, workers: int) -> Path:
    """A key ending in / is a folder: every object under it, paths kept. Returns what was written."""
    where = store.describe(key)
    if key.endswith("/") or not key:
        listed = [o for o in store.list(key) if not (o.key.endswith("/") and o.size == 0)]  # folder markers
        if not listed:
            raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{where}: no objects under this prefix")
        files = {safe_relative(o.key[len(key):], where): o for o in listed}
        _refuse_file_folder_clash(files, where)
        download(store, files, staging / "tree", max_bytes, workers)
        return staging / "tree"
    obj = store.head(key)
    if obj is None:
        hint = "; it is a folder: end the URI with /" if store.list(key + "/") else ""
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{where}: no such object{hint}")
    name = PurePosixPath(key).name
    download(store, {name: obj}, staging, max_bytes, workers)
    return staging / name


def _refuse_file_folder_clash(files: dict[str, RemoteObject], where: str) -> None:
    folders = {str(parent) for path in files for parent in PurePosixPath(path).parents}
    clash = sorted(folders & files.keys())
    if clash:
        raise RuntimeFailure(ExitCode.UNSAFE_SOURCE, f"{where}: {clash[0]!r} is both an object and a folder")


def download(store: ObjectStore, files: dict[str, RemoteObject], into: Path, max_bytes: int, workers: int) -> None:
    total = sum(o.size for o in files.values())
    if total > max_bytes:
        raise RuntimeFailure(ExitCode.TOO_LARGE, f"{len(files)} object(s) of {total} bytes in all, over the size "
                                                 f"limit of {max_bytes} bytes (--max-bytes)")
    parts = []
    # Largest first: their parts spread over every thread while the small files fill the gaps.
    for relative, obj in sorted(files.items(), key=lambda item: -item[1].size):
        path = into / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.truncate(obj.size)
        step = PART_BYTES if obj.size > SPLIT_ABOVE_BYTES else max(obj.size, 1)
        parts += [(obj, path, start, min(start + step, obj.size)) for start in range(0, obj.size, step)]
    _run_all(workers, [lambda part=part: _download_part(store, *part) for part in parts])
    _run_all(workers, [lambda item=item: store.verify(item[1], into / item[0]) for item in files.items()])


def _run_all(workers: int, jobs: list) -> None:
    """Run jobs on a bounded pool; the first failure cancels what has not started and is raised."""
    if not jobs:
        return
    pool = ThreadPoolExecutor(max(1, min(workers, len(jobs))), thread_name_prefix="fetch")
    try:
        futures = [pool.submit(job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                raise future.exception()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _download_part(store: ObjectStore, obj: RemoteObject, path: Path, start: int, end: int) -> None:
    for attempt in range(1, PART_ATTEMPTS + 1):
        try:
            _write_part(store, obj, path, start, end)
            return
        except RuntimeFailure as failure:
            # A connection that broke off mid-part is worth another try; anything else is final.
            if failure.code != ExitCode.NETWORK or attempt == PART_ATTEMPTS:
                raise


def _write_part(store: ObjectStore, obj: RemoteObject, path: Path, start: int, end: int) -> None:
    # No part writes past its range, and the listed sizes fit --max-bytes: the tree's limit holds.
    fd = os.open(path, os.O_WRONLY)
    try:
        offset = start
        for chunk in store.read(obj, start, end):
            if offset + len(chunk) > end:
                raise source_changed(store.describe(obj.key), f"more bytes than its listed size {obj.size}")
            view = memoryview(chunk)
            while view:
                written = os.pwrite(fd, view, offset)
                offset += written
                view = view[written:]
        if offset != end:
            current = store.head(obj.key)
            if current is None or (current.version, current.size) != (obj.version, obj.size):
                raise source_changed(store.describe(obj.key), "it is no longer the listed version")
            raise RuntimeFailure(ExitCode.NETWORK, f"{store.describe(obj.key)}: the download broke off at byte "
                                                   f"{offset} of {obj.size}")
    finally:
        os.close(fd)
