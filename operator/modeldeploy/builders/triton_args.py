"""The tritonserver command line, shared by the cluster pod and local serving.

One function, so what `modeldeploy serve` runs on a laptop is the same server
configuration a cluster runs, differing only in paths, addresses and ports.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import ModelDeployment
from . import naming as n

# Triton APIs that change or reveal server state; callers must send this header.
# The model-config API stays open: clients (perf_analyzer, tritonclient tools)
# read it to shape requests, and it reveals nothing the model metadata does not.
RESTRICTED_APIS = "model-repository,shared-memory,logging,trace"
ADMIN_HEADER = "triton-admin-key"


@dataclass(frozen=True)
class Endpoints:
    repository: str = n.MODEL_REPOSITORY
    http_port: int = n.HTTP_PORT
    grpc_port: int = n.GRPC_PORT
    metrics_port: int = n.METRICS_PORT
    address: str | None = None  # None: Triton's default (all interfaces, as a pod needs)


def triton_server_args(md: ModelDeployment, admin_key: str, exit_timeout_seconds: int,
                       endpoints: Endpoints = Endpoints()) -> list[str]:
    args = [
        f"--model-repository={endpoints.repository}",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
        f"--exit-timeout-secs={exit_timeout_seconds}",
        f"--http-port={endpoints.http_port}",
        f"--grpc-port={endpoints.grpc_port}",
        f"--metrics-port={endpoints.metrics_port}",
        "--allow-metrics=true",
        f"--http-restricted-api={RESTRICTED_APIS}:{ADMIN_HEADER}={admin_key}",
        f"--grpc-restricted-protocol={RESTRICTED_APIS}:{ADMIN_HEADER}={admin_key}",
    ]
    if endpoints.address is not None:
        args += [f"--http-address={endpoints.address}", f"--grpc-address={endpoints.address}",
                 f"--metrics-address={endpoints.address}"]
    if md.spec.model.config is not None:
        args.append("--disable-auto-complete-config")
    return args + list(md.spec.runtime.args)
