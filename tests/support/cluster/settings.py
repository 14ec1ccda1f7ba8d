"""What a harness is set up with: the node's capacity, images, timings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .kubelet.images import Image


@dataclass(frozen=True)
class HarnessSettings:
    # The one node's allocatable extended resources; a pod asking for more stays Pending (Unschedulable).
    gpus: int = 1
    extended_resources: Mapping[str, int] = field(default_factory=dict)  # e.g. {"nvidia.com/mig-1g.10gb": 2}
    # The node's pod capacity ("Too many pods" beyond it): bounds the Triton processes a test can start.
    max_pods: int = 4
    node_name: str = "harness-node"
    node_labels: Mapping[str, str] = field(default_factory=dict)
    # The folder standing in for the runtime image's filesystem and working directory (a runtime image
    # with models baked in): a relative file: URI such as file:models/quickstart resolves inside it.
    runtime_image_root: Path | None = None
    # More images, by pattern (fnmatch), tried before the built-in ones (runtime, Triton, python).
    images: Mapping[str, Image] = field(default_factory=dict)
    # PersistentVolumeClaims: claim name → folder standing in for the bound volume.
    volumes: Mapping[str, Path] = field(default_factory=dict)
    # kube-proxy applies endpoint changes this long after the API shows them (the real lag of
    # endpoint propagation), so the race between endpoint removal and pod shutdown is real.
    endpoint_delay_seconds: float = 0.3
    # The kubelet's crash-loop back-off: the first restart at once, then this, doubled per restart, at most
    # max (the kubelet's 10 s / 300 s).
    backoff_seconds: float = 10.0
    max_backoff_seconds: float = 300.0
    # Gateway API: each HTTPRoute is served on its own loopback address, on this port.
    gateway_port: int = 8000
    # The operator process (False: only the cluster, for tests of the harness itself).
    operator: bool = True
    operator_resync_seconds: float = 1.0
    # Pods drain for 2 s (the proxy's endpoint delay is 0.3 s) instead of the operator's 10 s default: the
    # race is the same, the tests do not wait 10 s for every pod that goes.
    operator_args: tuple[str, ...] = ("--prestop-seconds", "2", "--drain-seconds", "5")
