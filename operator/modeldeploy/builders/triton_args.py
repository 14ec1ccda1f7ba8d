"""The tritonserver command line, shared by the cluster pod and local serving.

One function, so what `modeldeploy serve` runs on a laptop is the same server
configuration a cluster runs, differing only in paths, addresses, ports and
where the keys come from.

Two locks, both Triton's own restricted-API feature:
- the admin APIs (repository, shared memory, logging, trace) need a key made
  at random when the server starts and stored nowhere (see admin_key.py);
- with spec.auth, the client APIs (inference, metadata, model config,
  statistics) need the API key from the user's Secret.
Health stays open for probes; without spec.auth the client APIs are open, the
model config included (it only reads, and perf_analyzer and tritonclient's
get_model_config need it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import ModelDeployment
from . import naming as n

ADMIN_APIS = "model-repository,shared-memory,logging,trace"
CLIENT_APIS = "inference,metadata,model-config,statistics"
ADMIN_HEADER = "triton-admin-key"
API_KEY_HEADER = "x-api-key"
# Triton's gRPC endpoint reads a restricted protocol's key from metadata named with this prefix.
GRPC_HEADER_PREFIX = "triton-grpc-protocol-"
GRPC_API_KEY_HEADER = GRPC_HEADER_PREFIX + API_KEY_HEADER
GRPC_ADMIN_HEADER = GRPC_HEADER_PREFIX + ADMIN_HEADER


@dataclass(frozen=True)
class Endpoints:
    repository: str = n.MODEL_REPOSITORY
    http_port: int = n.HTTP_PORT
    grpc_port: int = n.GRPC_PORT
    metrics_port: int = n.METRICS_PORT
    address: str | None = None  # None: Triton's default (all interfaces, as a pod needs)


def restricted(apis: str, header: str, key: str) -> list[str]:
    """The same lock on HTTP and gRPC."""
    return [f"--http-restricted-api={apis}:{header}={key}", f"--grpc-restricted-protocol={apis}:{header}={key}"]


def api_key_headers(api_key: str | None, protocol: str = "http") -> dict[str, str]:
    """What a client (smoke test, tritonclient, `modeldeploy infer`) sends with each request."""
    if not api_key:
        return {}
    return {GRPC_API_KEY_HEADER if protocol == "grpc" else API_KEY_HEADER: api_key}


# p50/p90/p99 of request and queue time on /metrics. Triton then updates five quantile summaries under a
# lock for every request: 9% more server CPU per request and 17% less throughput at concurrency 32 on the
# serving benchmark's MLP (docs/performance.md), so it is on only where something reads it.
SUMMARY_LATENCIES = "--metrics-config=summary_latencies=true"


def wants_latency_summaries(md: ModelDeployment) -> bool:
    """The rollout analysis judges a p99 (maxP99Latency): the one reader of Triton's summaries."""
    return md.spec.rollout.analysis.max_p99_latency is not None


def admin_lock_args(admin_key: str) -> list[str]:
    return restricted(ADMIN_APIS, ADMIN_HEADER, admin_key)


def triton_server_args(md: ModelDeployment, exit_timeout_seconds: int, endpoints: Endpoints = Endpoints(),
                       api_key: str | None = None) -> list[str]:
    """Every flag but the admin lock, which whoever starts Triton adds with its own random key.

    api_key: what the API-key flags carry when spec.auth is set; the pod passes a
    $(VAR) reference that the kubelet expands, local serving the key itself.
    """
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
    ]
    if wants_latency_summaries(md):
        args.append(SUMMARY_LATENCIES)
    if md.spec.auth is not None:
        if not api_key:
            raise ValueError("spec.auth is set: pass the API key (or the reference the kubelet expands)")
        args += restricted(CLIENT_APIS, API_KEY_HEADER, api_key)
    if endpoints.address is not None:
        args += [f"--http-address={endpoints.address}", f"--grpc-address={endpoints.address}",
                 f"--metrics-address={endpoints.address}"]
    if md.spec.model.config is not None:
        args.append("--disable-auto-complete-config")
    return args + list(md.spec.runtime.args)
