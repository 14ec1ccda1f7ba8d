"""file: URIs (and PVC paths, which the pod mounts and passes as file:///...).

A folder is copied file by file under one size limit for the whole tree;
symlinks follow the rules of tree.py (none may leave the folder).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ExitCode, RuntimeFailure
from .digest import SizeBudget, copy_stream, file_chunks
from .tree import tree_files


def resolve(uri: str, base_dir: Path) -> Path:
    """file:///abs/path, or file:rel/path relative to base_dir (the ModelDeployment's folder)."""
    path = Path(unquote(urlsplit(uri).path))
    return path if path.is_absolute() else base_dir / path


def fetch_local(uri: str, staging: Path, base_dir: Path, max_bytes: int) -> tuple[Path, str | None]:
    """Copy the source into staging; return (what was copied, sha256 if a single file)."""
    source = resolve(uri, base_dir)
    if not source.exists():
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{source} does not exist")
    target = staging / source.name
    try:
        if source.is_dir():
            _copy_tree(source, target, max_bytes)
            return target, None
        with source.open("rb") as handle:
            digest, _ = copy_stream(file_chunks(handle), target, max_bytes)
        return target, digest
    except PermissionError as err:
        raise RuntimeFailure(ExitCode.ACCESS_DENIED, f"cannot read {err.filename or source}") from None


def _copy_tree(source: Path, target: Path, max_bytes: int) -> None:
    budget = SizeBudget(max_bytes)
    for relative, path in tree_files(source):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as handle:
            copy_stream(file_chunks(handle), destination, budget)
    target.mkdir(parents=True, exist_ok=True)  # an empty folder is still a folder
