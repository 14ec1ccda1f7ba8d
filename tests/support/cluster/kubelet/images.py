"""Container images as this host runs them: which program an image's entrypoint is, where it starts, its PATH.

There is no image pull and no root filesystem: an image is a recipe for
running host programs the way the real image would. Patterns (fnmatch) map
image references to recipes; an image no pattern matches fails to "pull"
(ErrImagePull, then ImagePullBackOff), as an unknown image does on a node.
"""

from __future__ import annotations

import fnmatch
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from modeldeploy_runtime.triton_process import triton_env, triton_home

VENV_BIN = str(Path(sys.executable).parent)
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
TRITON_IN_IMAGE = "/opt/tritonserver/bin/tritonserver"


@dataclass(frozen=True)
class Filesystem:
    """What one container of an image sees: its default command, working directory, PATH and image files."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: Path | None = None  # None: the container's own scratch folder
    path: tuple[str, ...] = (VENV_BIN, *SYSTEM_PATH)
    # Absolute paths inside the image → where they are on this host (rewritten in commands like mounts).
    files: Mapping[str, str] = field(default_factory=dict)


class Image(Protocol):
    def filesystem(self, scratch: Path, pod_ip: str) -> Filesystem: ...


@dataclass(frozen=True)
class HostImage:
    """An image whose programs are this host's (this virtualenv first on PATH)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: Path | None = None

    def filesystem(self, scratch: Path, pod_ip: str) -> Filesystem:
        return Filesystem(self.entrypoint, self.cmd, self.workdir)


@dataclass(frozen=True)
class TritonImage:
    """NGC's tritonserver image: `tritonserver` (on PATH and at its image path) is nvidia-pytriton's binary,
    given the harness's backend folder and bound to the pod's address (the container has no network namespace
    of its own, so 0.0.0.0 would collide with every other pod's ports)."""

    backends: Path

    def filesystem(self, scratch: Path, pod_ip: str) -> Filesystem:
        bin_dir = scratch / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        shim = bin_dir / "tritonserver"
        env = triton_env({})
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k != "PATH")
        binary = triton_home() / "bin" / "tritonserver"
        shim.write_text(
            "#!/bin/sh\n# tritonserver of the Triton image, run by the loopback harness\n" + exports +
            f'exec {shlex.quote(str(binary))} --backend-directory={shlex.quote(str(self.backends))} "$@" '
            f"--http-address={pod_ip} --grpc-address={pod_ip} --metrics-address={pod_ip}\n")
        shim.chmod(0o755)
        return Filesystem(workdir=None, path=(str(bin_dir), VENV_BIN, *SYSTEM_PATH),
                          files={TRITON_IN_IMAGE: str(shim)})


def builtin_images(runtime_root: Path | None, backends: Path) -> dict[str, Image]:
    python = HostImage(cmd=("python3",))
    return {
        # runtime/Dockerfile: ENTRYPOINT ["modeldeploy"]; its root holds what the image bakes in (models).
        "ghcr.io/modeldeploy/modeldeploy-runtime:*": HostImage(entrypoint=("modeldeploy",), workdir=runtime_root),
        "nvcr.io/nvidia/tritonserver:*": TritonImage(backends),
        "python:*": python,
        "docker.io/library/python:*": python,
    }


class UnknownImage(Exception):
    pass


def find_image(images: Mapping[str, Image], reference: str) -> Image:
    for pattern, image in images.items():
        if fnmatch.fnmatchcase(reference, pattern):
            return image
    raise UnknownImage(f'failed to pull image "{reference}": not an image the loopback harness knows '
                       f"({', '.join(images)})")
