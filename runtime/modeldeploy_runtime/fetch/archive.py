"""Unpack .tar(.gz) and .zip artifacts without letting them write outside their folder."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import ExitCode, RuntimeFailure

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def unpack(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        _unpack_zip(archive, target)
    else:
        _unpack_tar(archive, target)


def _refuse_escaping_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise RuntimeFailure(ExitCode.UNSAFE_ARCHIVE, f"{archive.name}: entry {name!r} leaves the folder")


def _unpack_tar(archive: Path, target: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                _refuse_escaping_name(archive, member.name)
            # The standard library's "data" filter also refuses links that
            # leave the folder and device files.
            tar.extractall(target, filter="data")
    except tarfile.FilterError as err:
        raise RuntimeFailure(ExitCode.UNSAFE_ARCHIVE, f"{archive.name}: {err}") from None
    except (tarfile.TarError, EOFError, OSError) as err:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{archive.name} is not a readable tar archive: {err}") from None


def _unpack_zip(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _refuse_escaping_name(archive, info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise RuntimeFailure(ExitCode.UNSAFE_ARCHIVE, f"{archive.name}: entry {info.filename!r} is a symlink")
            zf.extractall(target)
    except zipfile.BadZipFile as err:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{archive.name} is not a readable zip archive: {err}") from None
