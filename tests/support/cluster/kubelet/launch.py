"""What one container runs: its image's entrypoint or its own command, args, env, working directory.

Kubernetes' rules: `command` replaces the image's ENTRYPOINT (and drops its
CMD), `args` replaces CMD; `$(VAR)` is expanded in both, then in-pod paths
are rewritten to the pod's folders. The program is looked up on the image's
PATH; one that is not there fails as containerd reports it (StartError, 128).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .environment import container_env, expand, Lookup
from .images import Filesystem
from .sandbox import Sandbox

# Marks every process of a harness, so teardown can prove none outlived it (see processes.py).
HARNESS_MARKER = "MODELDEPLOY_HARNESS"


class StartError(Exception):
    """The runtime could not start the process (exit code 128, reason StartError)."""


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


def build_launch(pod: dict, container: dict, fs: Filesystem, sandbox: Sandbox, lookup: Lookup, *,
                 host_ip: str, marker: str) -> Launch:
    paths = sandbox.paths(container, fs.files)
    scratch = sandbox.scratch(container["name"])
    declared = container_env(pod, container, lookup, host_ip)
    if container.get("command"):
        words = [*container["command"], *(container.get("args") or [])]
    else:
        words = [*fs.entrypoint, *(container["args"] if "args" in container else fs.cmd)]
    if not words:
        raise StartError("no command specified")
    argv = [paths(expand(w, declared)) for w in words]
    tmp = paths("/tmp")
    env = {
        "PATH": os.pathsep.join(fs.path), "HOSTNAME": pod["metadata"]["name"], "HOME": str(scratch),
        # A mounted /tmp is the container's /tmp; without one, its writable layer stands in.
        "TMPDIR": tmp if tmp != "/tmp" else str(scratch), "LANG": "C.UTF-8",
        **{k: paths(v) for k, v in declared.items()},
        HARNESS_MARKER: marker,
    }
    program = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env["PATH"])
    if program is None or not os.access(program, os.X_OK):
        raise StartError(f'exec: "{argv[0]}": executable file not found in $PATH')
    workdir = paths(container["workingDir"]) if container.get("workingDir") else (fs.workdir or scratch)
    return Launch([program, *argv[1:]], env, Path(workdir))
