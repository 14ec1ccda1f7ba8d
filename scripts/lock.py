"""The lock: requirements/*.txt, every package of every install path pinned with its hashes.

    scripts/lock                  refresh after a change to pyproject.toml or requirements/*.in
                                  (keeps every pin that still fits; -P NAME / --upgrade move pins)
    python scripts/lock.py --check
                                  offline, standard library only: fails when a lock was made from other
                                  inputs than the ones in the tree, or a pin no longer fits pyproject.toml

pip-tools (pip-compile) makes the files: it resolves with pip's own resolver
and pip's own configuration, so it sees the CPU build of torch that this
machine keeps in a local find-links folder, and what it writes installs with
plain `pip install --require-hashes`: no extra tool on a fresh machine or in
an image. Every lock but the independent tools' is resolved under the
constraint of test.txt (the union of what the tests and benchmarks need), so
the same package has the same version in every file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCKS = REPO / "requirements"
DIGEST_LINE = re.compile(r"^# inputs sha256: ([0-9a-f]{64})$", re.M)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


@dataclass(frozen=True)
class Lock:
    name: str                     # requirements/<name>.txt
    extras: tuple[str, ...] = ()  # of pyproject.toml; None of them: the base dependencies
    source: str | None = None     # requirements/<source>: a tool's own inputs instead of pyproject.toml
    constrained: bool = True      # resolved within test.txt's pins
    use: str = ""

    @property
    def path(self) -> Path:
        return LOCKS / f"{self.name}.txt"


LOCKS_MADE = (
    Lock("test", ("test", "bench"), constrained=False,
         use="scripts/test, .ci/run: the tests, the benchmarks and local serving"),
    Lock("serve", ("serve",), use="scripts/quickstart, scripts/bootstrap serve"),
    Lock("bench", ("bench",), use="scripts/bootstrap bench"),
    Lock("operator", (), use="operator/Dockerfile"),
    Lock("runtime", ("s3", "gcs"), use="runtime/Dockerfile (the init containers)"),
    Lock("checkov", source="checkov.in", constrained=False,
         use="scripts/tools: checkov in a venv of its own"),
    Lock("pip-tools", source="pip-tools.in", constrained=False, use="scripts/lock itself"),
)
# Files downloaded, never installed (scripts/tools, scripts/perf-analyzer): pinned by hash, no resolution.
DOWNLOADS = LOCKS / "downloads.in"


def inputs_digest(lock: Lock) -> str:
    """What a lock is made from: pyproject.toml's requirements (not its comments or other tables) with
    the lock's extras, or the tool's own .in file."""
    h = hashlib.sha256()
    if lock.source:
        h.update((LOCKS / lock.source).read_bytes())
    else:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())
        relevant = {
            "build-system": project["build-system"]["requires"],
            "requires-python": project["project"].get("requires-python"),
            "dependencies": project["project"].get("dependencies", []),
            "optional-dependencies": project["project"].get("optional-dependencies", {}),
            "extras": list(lock.extras),
        }
        h.update(repr(relevant).encode())
    return h.hexdigest()


# -- the check ------------------------------------------------------------------------------------------


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_of(text: str) -> dict[str, str]:
    return {_normal(name): version for name, version in PIN.findall(text)}


def requirements_of(lock: Lock) -> list[str]:
    """The requirement strings a lock must satisfy, self-references (modeldeploy[serve]) expanded."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    own = _normal(project["name"])
    found, todo, seen = list(project.get("dependencies", [])), list(lock.extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional.get(extra, []):
            head = re.match(r"^([A-Za-z0-9._-]+)(\[([^\]]*)\])?", req)
            if head and _normal(head.group(1)) == own:
                todo += [e.strip() for e in (head.group(3) or "").split(",") if e.strip()]
            else:
                found.append(req)
    return found


def check() -> list[str]:
    problems = []
    try:
        from packaging.requirements import Requirement  # noqa: PLC0415 - in .venv, not in every python3
        from packaging.version import Version  # noqa: PLC0415
    except ImportError:
        Requirement = None  # noqa: N806 - the digest check alone
    for lock in LOCKS_MADE:
        if not lock.path.exists():
            problems.append(f"{lock.path.relative_to(REPO)} is missing: run scripts/lock")
            continue
        text = lock.path.read_text()
        recorded = DIGEST_LINE.search(text)
        if recorded is None or recorded.group(1) != inputs_digest(lock):
            what = f"requirements/{lock.source}" if lock.source else "pyproject.toml's requirements"
            problems.append(f"{lock.path.relative_to(REPO)} was made from other inputs than {what} hold now: "
                            "run scripts/lock and commit requirements/")
            continue
        if "--hash=sha256:" not in text or Requirement is None or lock.source:
            continue
        pins = pins_of(text)
        for spec in requirements_of(lock):
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate():
                continue
            pinned = pins.get(_normal(req.name))
            if pinned is None:
                problems.append(f"{lock.path.relative_to(REPO)} has no pin for {spec!r}: run scripts/lock")
            elif not req.specifier.contains(Version(pinned), prereleases=True):
                problems.append(f"{lock.path.relative_to(REPO)} pins {req.name}=={pinned}, outside {spec!r}: "
                                "run scripts/lock")
    listed = {line.split()[0] for line in (LOCKS / "downloads.txt").read_text().splitlines()
              if line and not line.startswith("#")} if (LOCKS / "downloads.txt").exists() else set()
    if listed != set(_specs(DOWNLOADS)):
        problems.append("requirements/downloads.txt does not list exactly requirements/downloads.in: run scripts/lock")
    return problems


def _specs(path: Path) -> list[str]:
    return [spec for line in path.read_text().splitlines() if (spec := line.split("#")[0].strip())]


# -- the refresh ----------------------------------------------------------------------------------------


def compile_lock(lock: Lock, pip_compile: str, passthrough: list[str]) -> None:
    args = [pip_compile, "--quiet", "--generate-hashes", "--allow-unsafe", "--strip-extras",
            "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host",
            "-o", str(lock.path), *passthrough]
    if lock.source:
        args.append(str(LOCKS / lock.source))
    else:
        # The editable install of the project builds without isolation, from these pins.
        args += ["--build-deps-for", "editable"]
        for extra in lock.extras:
            args += ["--extra", extra]
        if lock.constrained:
            args += ["-c", str(LOCKS / "test.txt")]
        args.append(str(REPO / "pyproject.toml"))
    print(f"locking requirements/{lock.name}.txt ({lock.use})", file=sys.stderr, flush=True)
    run = subprocess.run(args, cwd=REPO, env={**os.environ, "CUSTOM_COMPILE_COMMAND": "scripts/lock"})
    if run.returncode:
        sys.exit(f"pip-compile failed for requirements/{lock.name}.txt (exit {run.returncode}); nothing else written")
    text = lock.path.read_text()
    # The project itself is installed editable, from the tree; its line cannot carry a hash.
    text = re.sub(r"^# WARNING: pip install will require.*?\n(?=[a-z])", "", text, flags=re.M | re.S)
    text = re.sub(r"^modeldeploy @ file://\S+\n(    #.*\n)*", "", text, flags=re.M)
    text = text.replace(str(REPO) + "/", "")
    header = f"# inputs sha256: {inputs_digest(lock)}\n# used by: {lock.use}\n"
    lock.path.write_text(header + DIGEST_LINE.sub("", text).lstrip("\n"))


def lock_downloads(pip: str) -> None:
    """downloads.in's wheels, each with the hash of the file pip fetched (one platform: x86_64 Linux)."""
    import tempfile  # noqa: PLC0415

    lines = []
    for spec in _specs(DOWNLOADS):
        with tempfile.TemporaryDirectory() as work:
            subprocess.run([pip, "download", "--quiet", "--no-deps", "-d", work, spec], check=True)
            (wheel,) = Path(work).iterdir()
            lines.append(f"{spec} --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}")
    out = LOCKS / "downloads.txt"
    out.write_text("# Downloaded, never installed: scripts/tools and scripts/perf-analyzer take their line.\n"
                   "# Made by scripts/lock from requirements/downloads.in.\n" + "\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/lock")
    parser.add_argument("--check", action="store_true", help="offline: is every lock made from today's inputs")
    parser.add_argument("--pip-compile", default="pip-compile")
    parser.add_argument("--pip", default="pip")
    parser.add_argument("--only", action="append", help="refresh only this lock (repeatable)")
    args, passthrough = parser.parse_known_args()
    if args.check:
        problems = check()
        for problem in problems:
            print(f"LOCK_DRIFT: {problem}", file=sys.stderr)
        return 1 if problems else 0
    for lock in LOCKS_MADE:
        if not args.only or lock.name in args.only:
            compile_lock(lock, args.pip_compile, passthrough)
    if not args.only or "downloads" in args.only:
        lock_downloads(args.pip)
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
