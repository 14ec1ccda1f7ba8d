"""Kubernetes API access. The only layer that talks to the API server."""

from .errors import ApiError, Conflict, Gone, Invalid, NotFound, Retryable
from .kube import FIELD_MANAGER, KubeClient
from .quantity import same_quantity
from .permissions import KINDS, PERMISSIONS, Kind, Permission, kind_of

__all__ = [
    "FIELD_MANAGER", "KINDS", "PERMISSIONS", "ApiError", "Conflict", "Gone", "Invalid", "Kind", "KubeClient",
    "NotFound", "Permission", "Retryable", "kind_of", "same_quantity",
]
