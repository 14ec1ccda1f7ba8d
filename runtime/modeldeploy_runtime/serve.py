"""`modeldeploy serve`: a ModelDeployment on this machine, through a real Triton.

The same steps a pod takes (fetch, build the repository with the generated
config.pbtxt, start tritonserver with the cluster's flags, gate on per-model
readiness), bound to 127.0.0.1 and without a cluster.
"""

from __future__ import annotations

import os
import secrets
import shutil
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
from .repository import build_repository
from .smoke import smoke
from .triton_process import TritonProcess, free_port, start_triton, triton_home


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


def default_workdir(md: ModelDeployment) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "modeldeploy" / "serve" / f"{md.namespace}-{md.name}"


def _check_backend_available(md: ModelDeployment) -> None:
    available = sorted(p.name for p in (triton_home() / "backends").iterdir() if p.is_dir())
    field, needed, _ = FORMAT_BACKENDS[md.spec.model.format]
    if field != "backend" or needed not in available:
        raise RuntimeFailure(
            ExitCode.TRITON_UNAVAILABLE,
            f"the local Triton has the {', '.join(available)} backend(s) only, not one for format "
            f"{md.spec.model.format}; package a torch model with `modeldeploy package` and serve it as format: python",
        )


@contextmanager
def serving(md: ModelDeployment, base_dir: Path, options: ServeOptions = ServeOptions()) -> Iterator[LocalServer]:
    _check_backend_available(md)
    workdir = options.workdir or default_workdir(md)
    workdir.mkdir(parents=True, exist_ok=True)
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
