"""scripts/bootstrap installs exactly a lock's pins, and shows what it installs instead of a silent minute."""

from __future__ import annotations

import os
import re
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


def _locked(name: str) -> str:
    """The lines of one package in the project's own lock: its pin and hashes."""
    text = (REPO / "requirements" / "test.txt").read_text()
    found = re.search(rf"^{name}==\S+( \\\n    --hash=\S+)+", text, re.M)
    assert found, f"{name} is in requirements/test.txt"
    return found.group(0) + "\n"


def _probe(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "__init__.py").write_text("")
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "test.txt").write_text(_locked("six") + _locked("setuptools"))
    return tmp_path


def test_bootstrap_installs_the_lock_names_each_package_and_says_when_it_is_done(tmp_path: Path) -> None:
    root = _probe(tmp_path)
    env = {**os.environ, "PYTHON": sys.executable}
    first = subprocess.run(["scripts/bootstrap"], cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert lines[0] == ("Installing modeldeploy with requirements/test.txt into .venv "
                        "(minutes the first time; later runs skip this)...")
    assert any(line.startswith("  collecting six") for line in lines), first.stderr
    assert "  installed 2 packages" in lines and lines[-1] == "Installed into .venv.", first.stderr
    pinned = re.search(r"^six==(\S+)", (root / "requirements" / "test.txt").read_text(), re.M).group(1)
    shown = subprocess.run([str(root / ".venv" / "bin" / "python"), "-m", "pip", "show", "six"],
                           capture_output=True, text=True, check=True).stdout
    assert f"Version: {pinned}" in shown
    again = subprocess.run(["scripts/bootstrap"], cwd=root, capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0 and again.stderr == "" and again.stdout == ""


def test_bootstrap_refuses_a_lock_whose_hash_does_not_match(tmp_path: Path) -> None:
    root = _probe(tmp_path)
    lock = root / "requirements" / "test.txt"
    lock.write_text(re.sub(r"(six==\S+ \\\n    --hash=sha256:)[0-9a-f]+", r"\g<1>" + "0" * 64,
                           re.sub(r"(six==\S+ \\\n    --hash=\S+)( \\\n    --hash=\S+)+", r"\1", lock.read_text())))
    env = {**os.environ, "PYTHON": sys.executable}
    run = subprocess.run(["scripts/bootstrap"], cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in run.stderr
    assert not list((root / ".venv").glob(".installed-*")), "a failed install is not stamped as done"


def test_bootstrap_names_the_locks_when_given_an_unknown_one(tmp_path: Path) -> None:
    root = _probe(tmp_path)
    run = subprocess.run(["scripts/bootstrap", "nope"], cwd=root, capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "no lock requirements/nope.txt: one of test" in run.stderr
