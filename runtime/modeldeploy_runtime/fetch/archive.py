"""Unpack .tar(.gz) and .zip artifacts without letting them write outside their folder, or too much.

Before anything is written, the sizes the archive declares are summed: over
--max-bytes, or expanding more than MAX_EXPANSION times the archive's own
size (a zip or gzip bomb), it is refused. Those sizes bound what extraction
writes (tar writes exactly them; zipfile stops reading at them), so the check
is exact, and the caller's staging folder takes any partial output away.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import ExitCode, RuntimeFailure

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
# Model weights barely compress (about 1.1×) and text maybe 10×; a thousandfold is a bomb.
MAX_EXPANSION = 100
# Below this, the ratio is harmless whatever it is (a few config files compress well).
EXPANSION_FLOOR_BYTES = 1 << 20


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def unpack(archive: Path, target: Path, max_bytes: int, max_expansion: int = MAX_EXPANSION) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        _unpack_zip(archive, target, max_bytes, max_expansion)
    else:
        _unpack_tar(archive, target, max_bytes, max_expansion)


def _refuse_escaping_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise RuntimeFailure(ExitCode.UNSAFE_ARCHIVE, f"{archive.name}: entry {name!r} leaves the folder")


def _check_expansion(archive: Path, expanded: int, max_bytes: int, max_expansion: int) -> None:
    if expanded > max_bytes:
        raise RuntimeFailure(ExitCode.TOO_LARGE, f"{archive.name} expands to {expanded} bytes, over the size limit "
                                                 f"of {max_bytes} bytes (--max-bytes)")
    packed = max(archive.stat().st_size, 1)
    if expanded > EXPANSION_FLOOR_BYTES and expanded > packed * max_expansion:
        raise RuntimeFailure(ExitCode.UNSAFE_ARCHIVE, f"{archive.name} expands {expanded // packed}× ({packed} → "
                                                      f"{expanded} bytes), over the bound of {max_expansion}×: "
                                                      "an archive bomb, or pack the model without padding")


def _first_words(err: BaseException) -> str:
    """tarfile's open tries every compression and lists each failure on its own line: said in one."""
    text = str(err)
    if isinstance(err, tarfile.ReadError) and "- method " in text:
        return "neither a gzip, bzip2 or xz compressed tar nor a plain one"
    return text.splitlines()[0] if text else type(err).__name__


def _unpack_tar(archive: Path, target: Path, max_bytes: int, max_expansion: int) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _refuse_escaping_name(archive, member.name)
            _check_expansion(archive, sum(m.size for m in members if m.isfile()), max_bytes, max_expansion)
            # The standard library's "data" filter also refuses links that
            # leave the folder and device files.
            tar.extractall(target, filter="data")
    except tarfile.FilterError as err:
        raise RuntimeFailure(ExitCode.UNSAFE_ARCHIVE, f"{archive.name}: {err}") from None
    except (tarfile.TarError, EOFError, OSError) as err:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{archive.name} is not a readable tar archive: "
                                                    f"{_first_words(err)}") from None


def _unpack_zip(archive: Path, target: Path, max_bytes: int, max_expansion: int) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _refuse_escaping_name(archive, info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise RuntimeFailure(ExitCode.UNSAFE_ARCHIVE, f"{archive.name}: entry {info.filename!r} is a symlink")
            _check_expansion(archive, sum(i.file_size for i in infos), max_bytes, max_expansion)
            zf.extractall(target)
    except zipfile.BadZipFile as err:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{archive.name} is not a readable zip archive: {err}") from None
