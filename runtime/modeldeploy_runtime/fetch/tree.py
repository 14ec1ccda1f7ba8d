"""Model folders: safe relative paths, the files a folder holds, and its digest.

The tree digest (spec.model.treeSha256, `modeldeploy digest DIR`) is the
sha256 of the lines `<sha256 of the file>  <relative path>\\n`, one per file,
sorted by path (bytewise, UTF-8) — exactly what

    cd DIR && find -L . -type f ! -path ./.modeldeploy-fetch.json -printf '%P\\0' \\
      | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum

prints. Empty folders do not count; the fetch marker is left out.

Symlinks: one that leaves the folder, dangles or points at a folder is
refused (UNSAFE_SOURCE); one that points at a file inside the folder counts as
that file's content under the link's own path (and is copied as a file).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from ..errors import ExitCode, RuntimeFailure
from .digest import sha256_of

MARKER = ".modeldeploy-fetch.json"


def safe_relative(path: str, where: str) -> str:
    """A relative POSIX path that stays inside its folder, or UNSAFE_SOURCE."""
    parts = PurePosixPath(path).parts
    bad = (not path or path.startswith("/") or "\\" in path or any(ord(c) < 32 or ord(c) == 127 for c in path)
           or any(p in ("", ".", "..") for p in path.split("/")))
    if bad:
        raise RuntimeFailure(ExitCode.UNSAFE_SOURCE, f"{where}: {path!r} is not a plain relative path inside the "
                                                     "model folder ('..', '.', '//', a leading '/', a backslash or a "
                                                     "control character)")
    if parts == (MARKER,):
        raise RuntimeFailure(ExitCode.UNSAFE_SOURCE, f"{where}: {MARKER} is the name fetch keeps for itself")
    return path


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """(relative path, file to read) of every file under root, sorted by path; links checked as above."""
    root = Path(root)
    real_root = root.resolve()
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root, onerror=_unreadable):
        here = Path(folder)
        for name in dirs:
            if (here / name).is_symlink():
                raise RuntimeFailure(ExitCode.UNSAFE_SOURCE, f"{_rel(here / name, root)} is a symlink to a folder; "
                                                             "replace it with the folder itself")
        for name in files:
            path = here / name
            relative = _rel(path, root)
            if relative == MARKER:  # a fetched folder's own record, no part of the model
                continue
            found.append((safe_relative(relative, str(root)), _readable_file(path, root, real_root)))
    return sorted(found, key=lambda item: item[0].encode())


def _unreadable(err: OSError) -> None:
    # os.walk skips folders it cannot list unless told otherwise: a model must not silently lose files.
    raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"cannot list {err.filename}: {err.strerror}")


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _readable_file(path: Path, root: Path, real_root: Path) -> Path:
    if not path.is_symlink():
        return path
    target = path.resolve()
    if not target.is_relative_to(real_root):
        raise RuntimeFailure(ExitCode.UNSAFE_SOURCE, f"{_rel(path, root)} is a symlink to {os.readlink(path)}, "
                                                     "outside the model folder; copy the file in instead")
    if not target.is_file():
        raise RuntimeFailure(ExitCode.UNSAFE_SOURCE, f"{_rel(path, root)} is a symlink to "
                                                     f"{os.readlink(path)}, which is not a file")
    return target


def tree_digest(root: Path, workers: int = 4) -> str:
    files = tree_files(root)
    # hashlib releases the GIL on large buffers: files hash in parallel.
    with ThreadPoolExecutor(max(1, workers)) as pool:
        digests = list(pool.map(lambda item: sha256_of(item[1]), files))
    return manifest_digest([(relative, digest) for (relative, _), digest in zip(files, digests)])


def manifest_digest(entries: list[tuple[str, str]]) -> str:
    """sha256 of `<file sha256>  <path>` lines, sorted by path: sha256sum's own output format."""
    manifest = "".join(f"{digest}  {relative}\n" for relative, digest in sorted(entries, key=lambda e: e[0].encode()))
    return hashlib.sha256(manifest.encode()).hexdigest()
