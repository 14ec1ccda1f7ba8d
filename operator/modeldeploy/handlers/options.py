"""What `modeldeploy operator` is told on its command line (or by MODELDEPLOY_* env)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..builders import DEFAULT_RUNTIME_IMAGE, BuildOptions


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    log_level: str = "info"
    log_format: str = "text"
    metrics_port: int = 8080
    health_port: int = 8081
    bind_address: str = "0.0.0.0"
    # How often every ModelDeployment is compared with its children again (no API calls when in sync).
    resync_seconds: float = 60.0
    # How often every watched kind is listed afresh, to repair what a watch never delivered.
    relist_seconds: float = 600.0
    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    # How long a stopping Triton pod keeps serving while its endpoints go (the preStop pause), and how long
    # Triton then waits for requests in flight: longer than the cluster's endpoint propagation, and than
    # the slowest inference.
    prestop_seconds: int = BuildOptions.prestop_sleep_seconds
    drain_seconds: int = BuildOptions.triton_exit_timeout_seconds
    # engine keda: the Prometheus server the ScaledObjects' triggers query.
    keda_prometheus_server: str = BuildOptions.keda_prometheus_server
    peering: str = "modeldeploy"
    standalone: bool = False
    # Replicas of the operator need distinct priorities: kopf freezes every peer when two are equal.
    priority: int = field(default_factory=lambda: random.randint(1, 2**31 - 1))
    peering_lifetime: int = 30
    # Reconciles run at once, each on its own ModelDeployment: one slow write delays no other key.
    workers: int = 4

    def __post_init__(self) -> None:
        if not self.all_namespaces and not self.namespaces:
            raise ValueError("choose --all-namespaces or at least one --namespace")
        if self.all_namespaces and self.namespaces:
            raise ValueError("--all-namespaces and --namespace exclude each other")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"--log-format must be text or json, not {self.log_format!r}")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise ValueError(f"--log-level must be debug, info, warning or error, not {self.log_level!r}")
        if self.resync_seconds <= 0:
            raise ValueError("--resync-seconds must be positive")
        if self.prestop_seconds < 0 or self.drain_seconds < 0:
            raise ValueError("--prestop-seconds and --drain-seconds cannot be negative")
        if self.relist_seconds <= 0:
            raise ValueError("--relist-seconds must be positive")
        if self.workers < 1:
            raise ValueError("--workers must be at least 1")
