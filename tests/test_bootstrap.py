"""scripts/bootstrap shows what it installs instead of a silent minute of pip --quiet."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.unit

PROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "probe"
version = "0"
dependencies = ["six"]
"""


def test_bootstrap_names_each_package_and_says_when_it_is_done(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__init__.py").write_text("")
    env = {**os.environ, "PYTHON": sys.executable}
    first = subprocess.run(["scripts/bootstrap"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert lines[0] == "Installing modeldeploy into .venv (minutes the first time; later runs skip this)..."
    assert any(line.startswith("  collecting six") for line in lines), first.stderr
    assert "  installed 2 packages" in lines and lines[-1] == "Installed into .venv."
    again = subprocess.run(["scripts/bootstrap"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0 and again.stderr == "" and again.stdout == ""
