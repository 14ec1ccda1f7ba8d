"""`modeldeploy serve`: a ModelDeployment on this machine, through a real Triton.

The same steps a pod takes (fetch, build the repository with the generated
config.pbtxt, start tritonserver with the cluster's flags, gate on per-model
readiness), bound to 127.0.0.1 and without a cluster. Instance groups of
kind GPU run as KIND_CPU on a machine without a GPU (local_gpus).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from modeldeploy.api import API_KEY_ENV, ModelDeployment
from modeldeploy.builders import (
    Endpoints, admin_lock_args, api_key_headers, render_model_config, triton_server_args,
)
from modeldeploy.builders.triton_config import FORMAT_BACKENDS

from .errors import ExitCode, RuntimeFailure
from .fetch import fetch, storage_settings
from .local_gpus import as_cpu_groups, cpu_fallback_warning
from .repository import build_repository
from .smoke import smoke
from .triton_process import TritonProcess, free_port, port_is_free, start_triton, triton_home

# ServeOptions' fields and the flags of `modeldeploy serve` that set them.
PORT_FLAGS = {"http_port": "--http-port", "grpc_port": "--grpc-port", "metrics_port": "--metrics-port"}


@dataclass
class ServeOptions:
    http_port: int | None = None
    grpc_port: int | None = None
    metrics_port: int | None = None
    workdir: Path | None = None
    ready_timeout_seconds: float = 120.0
    exit_timeout_seconds: int = 5
    extra_args: list[str] = field(default_factory=list)
    # With spec.auth: the key clients must send; None reads $MODELDEPLOY_API_KEY, else makes one for this run.
    api_key: str | None = None
    cpus: set[int] | None = None  # pin Triton (and its backend stubs) to these cores, e.g. away from a load generator


@dataclass
class LocalServer:
    md: ModelDeployment
    triton: TritonProcess
    seconds_to_ready: float
    admin_key: str
    api_key: str | None = None

    def headers(self, protocol: str = "http") -> dict[str, str]:
        """What a client sends with each request: the API key, when spec.auth asks for one."""
        return api_key_headers(self.api_key, protocol)

    @property
    def http_url(self) -> str:
        return self.triton.http_url

    @property
    def grpc_url(self) -> str:
        return self.triton.grpc_url

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.triton.metrics_port}/metrics"


def default_workdir(md: ModelDeployment, base_dir: Path, purpose: str = "") -> Path:
    """~/.cache/modeldeploy/serve/NAMESPACE-NAME-<8 hex of the file's folder>: two checkouts serving the same
    example never share (or lock each other out of) one work folder."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    where = hashlib.sha256(str(base_dir.resolve()).encode()).hexdigest()[:8]
    return cache / "modeldeploy" / "serve" / "-".join(filter(None, (md.namespace, md.name, where, purpose)))


def _check_backend_available(md: ModelDeployment) -> None:
    available = sorted(p.name for p in (triton_home() / "backends").iterdir() if p.is_dir())
    field, needed, _ = FORMAT_BACKENDS[md.spec.model.format]
    if field != "backend" or needed not in available:
        raise RuntimeFailure(
            ExitCode.TRITON_UNAVAILABLE,
            f"the local Triton has the {', '.join(available)} backend(s) only, not one for format "
            f"{md.spec.model.format}; package a torch model with `modeldeploy package` and serve it as format: python",
        )


def _check_ports(options: ServeOptions) -> None:
    """The ports asked for, free and distinct, before anything starts: else a server already there answers."""
    seen: dict[int, str] = {}
    for name, flag in PORT_FLAGS.items():
        port = getattr(options, name)
        if port is None:
            continue
        if port in seen:
            raise RuntimeFailure(ExitCode.USAGE, f"{flag} {port}: {seen[port]} has the same port; give each its own")
        seen[port] = flag
        if not port_is_free(port):
            raise RuntimeFailure(ExitCode.USAGE, f"{flag} {port}: 127.0.0.1:{port} is already in use (another "
                                                 f"server?); stop it, choose a free port, or leave {flag} out to "
                                                 "pick one")


@contextmanager
def _claimed(workdir: Path) -> Iterator[None]:
    """This run's hold on its work folder: a second serve there would delete the first's repository."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / ".serve.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise RuntimeFailure(ExitCode.USAGE, f"{workdir} is in use by another modeldeploy serve (pid {holder}); "
                                                 "stop it, or give this one its own --workdir") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield  # the lock goes with the file's closing, also when this process dies


@contextmanager
def serving(md: ModelDeployment, base_dir: Path, options: ServeOptions = ServeOptions()) -> Iterator[LocalServer]:
    _check_backend_available(md)
    _check_ports(options)
    warning = cpu_fallback_warning(md)
    if warning:
        print(f"serve: warning: {warning}", file=sys.stderr)
        md = as_cpu_groups(md)
    workdir = options.workdir or default_workdir(md, base_dir)
    with _claimed(workdir), _serving_in(md, base_dir, options, workdir) as server:
        yield server


@contextmanager
def _serving_in(md: ModelDeployment, base_dir: Path, options: ServeOptions, workdir: Path) -> Iterator[LocalServer]:
    model = md.spec.model
    fetched = fetch(model.uri, workdir / "source" / md.model_name, sha256=model.sha256,
                    tree_sha256=model.tree_sha256, base_dir=base_dir, settings=storage_settings(md))
    repository = workdir / "repository"
    shutil.rmtree(repository, ignore_errors=True)  # serve this model only, never a leftover
    build_repository(fetched.dest, repository, md.model_name, model.version, model.format, render_model_config(md))
    ports = (options.http_port or free_port(), options.grpc_port or free_port(), options.metrics_port or free_port())
    # Random per run and kept in this process only, like the pod's (see builders/admin_key.py).
    admin_key = secrets.token_hex(32)
    api_key = None
    if md.spec.auth is not None:
        api_key = options.api_key or os.environ.get(API_KEY_ENV) or secrets.token_hex(16)
    endpoints = Endpoints(repository=str(repository), http_port=ports[0], grpc_port=ports[1],
                          metrics_port=ports[2], address="127.0.0.1")
    args = triton_server_args(md, options.exit_timeout_seconds, endpoints, api_key=api_key) + \
        admin_lock_args(admin_key) + options.extra_args
    log_path = workdir / "triton.log"
    log_path.unlink(missing_ok=True)
    triton = start_triton(args, workdir, log_path, ports, cpus=options.cpus)
    try:
        seconds = triton.wait_model_ready(md.model_name, model.version, options.ready_timeout_seconds)
        _smoke_or_fail(md, triton, api_key)
        yield LocalServer(md=md, triton=triton, seconds_to_ready=seconds, admin_key=admin_key, api_key=api_key)
    finally:
        triton.stop(options.exit_timeout_seconds + 5)


def _smoke_or_fail(md: ModelDeployment, triton: TritonProcess, api_key: str | None) -> None:
    # Loaded is not working: a config whose inputs do not fit the model loads fine and fails
    # on the first request. As strict as the cluster's rollout gate, which runs the same smoke.
    result = smoke(md, triton.http_url, headers=api_key_headers(api_key, "http") if api_key else None)
    if not result.ok:
        raise RuntimeFailure(ExitCode.TRITON_FAILED, f"model {md.model_name} loaded, but a config-shaped inference "
                                                     f"failed: {result.message}. Make spec.model.config match the "
                                                     "model (`modeldeploy package` prints it)")
