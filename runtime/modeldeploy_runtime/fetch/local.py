"""file: URIs (and PVC paths, which the pod mounts and passes as file:///...)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ExitCode, RuntimeFailure
from .digest import copy_stream, file_chunks


def resolve(uri: str, base_dir: Path) -> Path:
    """file:///abs/path, or file:rel/path relative to base_dir (the ModelDeployment's folder)."""
    path = Path(unquote(urlsplit(uri).path))
    return path if path.is_absolute() else base_dir / path


def fetch_local(uri: str, staging: Path, base_dir: Path, max_bytes: int) -> tuple[Path, str | None]:
    """Copy the source into staging; return (what was copied, sha256 if a single file)."""
    source = resolve(uri, base_dir)
    if not source.exists():
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{source} does not exist")
    try:
        if source.is_dir():
            target = staging / source.name
            shutil.copytree(source, target, symlinks=False)
            return target, None
        target = staging / source.name
        with source.open("rb") as handle:
            digest, _ = copy_stream(file_chunks(handle), target, max_bytes)
        return target, digest
    except PermissionError as err:
        raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"cannot read {err.filename or source}") from None
