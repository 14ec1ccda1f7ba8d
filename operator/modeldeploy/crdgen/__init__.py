"""CRD generation: the API models are the single source of the CRD schema."""

from .crd import build_crd, resource_schema

__all__ = ["build_crd", "resource_schema"]
