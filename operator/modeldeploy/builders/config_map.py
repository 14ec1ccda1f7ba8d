"""The ConfigMap holding one revision's config.pbtxt."""

from __future__ import annotations

from ..api import ModelDeployment
from . import naming as n
from .triton_config import render_model_config


def build_config_map(md: ModelDeployment, rev: str | None = None) -> dict:
    rev = rev or n.default_revision(md)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": n.metadata(md, n.config_map_name(md, rev), n.revision_labels(md, rev)),
        "data": {"config.pbtxt": render_model_config(md)},
    }
