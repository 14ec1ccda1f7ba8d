"""CRD generation: the API models are the single source of the CRD schema."""

from .crd import build_crd, resource_schema
from .peering import build_peering_crds

__all__ = ["build_crd", "build_peering_crds", "resource_schema"]
