"""`modeldeploy digest PATH`: the digests spec.model pins, printed as YAML to paste."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import ExitCode, RuntimeFailure
from .archive import is_archive, unpack
from .digest import sha256_of
from .tree import manifest_digest, tree_digest

UNBOUNDED = 1 << 62


def describe(path: Path) -> list[str]:
    """A folder: its treeSha256. A file: its sha256, and the treeSha256 of what fetch makes of it."""
    if path.is_dir():
        return [f"treeSha256: {tree_digest(path)}"]
    if not path.is_file():
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{path} is neither a folder nor a file")
    digest = sha256_of(path)
    if not is_archive(path):
        return [f"sha256: {digest}", f"treeSha256: {manifest_digest([(path.name, digest)])}"]
    with tempfile.TemporaryDirectory(prefix="modeldeploy-digest-") as scratch:
        # What fetch places is the archive's contents: that is what treeSha256 pins.
        unpack(path, Path(scratch), UNBOUNDED)
        return [f"sha256: {digest}", f"treeSha256: {tree_digest(Path(scratch))}"]
