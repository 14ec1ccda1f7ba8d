"""Pure builders: a validated ModelDeployment in, the desired Kubernetes objects out.

No I/O, no clients, no clock: the same input always gives the same output.
"""

from __future__ import annotations

from ..api import ModelDeployment
from .config_map import build_config_map
from .admin_key import triton_command
from .deployment import build_deployment, desired_replicas
from .inputs import SecretRevisions, api_key_from_secret, secret_revision
from .options import DEFAULT_RUNTIME_IMAGE, BuildOptions
from .policy import build_network_policy, build_pdb
from .services import build_metrics_service, build_service
from .triton_args import (
    ADMIN_HEADER, API_KEY_HEADER, GRPC_ADMIN_HEADER, GRPC_API_KEY_HEADER, Endpoints, admin_lock_args,
    api_key_headers, triton_server_args,
)
from .triton_config import build_model_config, default_model_filename, render_model_config


def build_all(md: ModelDeployment, options: BuildOptions = BuildOptions(),
              secrets: SecretRevisions = SecretRevisions()) -> list[dict]:
    """Every object of the current revision, in apply order (config before its users)."""
    objects = [
        build_config_map(md),
        build_deployment(md, options, secrets),
        build_service(md),
        build_metrics_service(md),
        build_pdb(md),
        build_network_policy(md),
    ]
    return [obj for obj in objects if obj is not None]


__all__ = [
    "ADMIN_HEADER", "API_KEY_HEADER", "GRPC_ADMIN_HEADER", "GRPC_API_KEY_HEADER", "SecretRevisions",
    "admin_lock_args", "api_key_from_secret", "api_key_headers", "secret_revision", "triton_command",
    "Endpoints", "triton_server_args", "DEFAULT_RUNTIME_IMAGE", "BuildOptions", "build_all", "build_config_map", "build_deployment",
    "build_metrics_service", "desired_replicas", "build_model_config", "build_network_policy", "build_pdb", "build_service",
    "default_model_filename", "render_model_config",
]
