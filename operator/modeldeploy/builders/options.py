"""Platform-level settings a builder needs that are not part of a ModelDeployment."""

from __future__ import annotations

from dataclasses import dataclass

from .. import __version__

DEFAULT_RUNTIME_IMAGE = f"ghcr.io/modeldeploy/modeldeploy-runtime:{__version__}"


@dataclass(frozen=True)
class BuildOptions:
    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    # Triton waits this long for in-flight requests on SIGTERM; the pod's grace
    # period covers it plus the preStop pause that lets endpoints drain first.
    triton_exit_timeout_seconds: int = 30
    prestop_sleep_seconds: int = 10
    dshm_size: str = "1Gi"
    # engine keda: the Prometheus that ScaledObjects query (Helm value keda.prometheusServer), and whether
    # KEDA's CRD is installed (the operator discovers it; `render` assumes it is).
    keda_prometheus_server: str = "http://prometheus-operated.monitoring.svc:9090"
    keda_available: bool = False
    # Whether the Gateway API's HTTPRoute CRD is installed: exact canary weights through an HTTPRoute.
    gateway_available: bool = False
