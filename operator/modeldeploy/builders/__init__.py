"""Pure builders: a validated ModelDeployment in, the desired Kubernetes objects out.

No I/O, no clients, no clock: the same input always gives the same output.
"""

from __future__ import annotations

from ..api import ModelDeployment
from . import naming
from .autoscaling import autoscaler_unavailable, build_autoscaler, build_hpa, build_scaled_object, keda_hpa_name
from .config_map import build_config_map
from .admin_key import triton_command
from .deployment import build_deployment, desired_replicas, revision_spec, template_hash
from .inputs import SecretRevisions, api_key_from_secret, api_key_problem, secret_revision
from .options import DEFAULT_RUNTIME_IMAGE, BuildOptions
from .policy import build_network_policy, build_pdb
from .services import (build_http_route, build_metrics_service, build_preview_service, build_revision_service,
                       build_service)
from .triton_args import (
    ADMIN_HEADER, API_KEY_HEADER, GRPC_ADMIN_HEADER, GRPC_API_KEY_HEADER, Endpoints, admin_lock_args,
    api_key_headers, triton_server_args,
)
from .triton_config import build_model_config, default_model_filename, render_model_config


def build_all(md: ModelDeployment, options: BuildOptions = BuildOptions(),
              secrets: SecretRevisions = SecretRevisions()) -> list[dict]:
    """Every object of a first deployment (one revision at full size), in apply order (config before users).

    What `render` prints; the operator builds the same pieces for each revision a rollout keeps."""
    rev = naming.default_revision(md)
    blue_green = md.spec.rollout.strategy == "BlueGreen"
    return [*build_revision(md, options, secrets, rev=rev),
            *build_shared(md, options, active=rev if blue_green else None, preview=rev if blue_green else None,
                          weights={rev: 100})]


def build_revision(md: ModelDeployment, options: BuildOptions = BuildOptions(),
                   secrets: SecretRevisions = SecretRevisions(), *, rev: str, replicas: int | None = None,
                   number: int = 1, smoke_gate: bool | None = None) -> list[dict]:
    """One revision: its config, then its Deployment."""
    return [build_config_map(md, rev),
            build_deployment(md, options, secrets, rev=rev, replicas=replicas, number=number, smoke_gate=smoke_gate)]


def build_shared(md: ModelDeployment, options: BuildOptions = BuildOptions(), *, active: str | None,
                 preview: str | None, weights: dict[str, int]) -> list[dict]:
    """What all revisions share: the Services (`active`: the one revision the main Service selects, None: all;
    `preview`: BlueGreen's preview Service), PDB, NetworkPolicy, and an HTTPRoute over `weights`."""
    rollout = md.spec.rollout
    objects: list[dict | None] = [build_service(md, active), build_metrics_service(md)]
    if rollout.strategy == "BlueGreen" and preview:
        objects.append(build_preview_service(md, preview))
    if options.gateway_available and rollout.traffic_routing is not None and \
            rollout.traffic_routing.gateway_api is not None:
        objects += [build_revision_service(md, rev) for rev in sorted(weights)]
        objects.append(build_http_route(md, weights))
    objects += [build_pdb(md), build_network_policy(md, options), build_autoscaler(md, options)]
    return [obj for obj in objects if obj is not None]


__all__ = [
    "autoscaler_unavailable", "build_autoscaler", "build_hpa", "build_scaled_object", "keda_hpa_name",
    "ADMIN_HEADER", "API_KEY_HEADER", "GRPC_ADMIN_HEADER", "GRPC_API_KEY_HEADER", "SecretRevisions",
    "admin_lock_args", "api_key_from_secret", "api_key_problem", "api_key_headers", "secret_revision", "triton_command",
    "Endpoints", "triton_server_args", "DEFAULT_RUNTIME_IMAGE", "BuildOptions", "build_all", "build_config_map", "build_deployment",
    "build_http_route", "build_metrics_service", "build_preview_service", "build_revision", "build_revision_service",
    "build_shared", "desired_replicas", "build_model_config", "build_network_policy", "build_pdb", "build_service",
    "revision_spec", "template_hash",
    "default_model_filename", "render_model_config",
]
