"""The import-layer contracts in pyproject.toml hold (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.unit


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe, "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 5 kept, 0 broken." in proc.stdout


def test_no_import_package_is_named_operator() -> None:
    import modeldeploy
    assert Path(modeldeploy.__file__).parent == REPO / "operator" / "modeldeploy"
    import operator
    assert hasattr(operator, "itemgetter"), "the standard library's operator module is shadowed"
