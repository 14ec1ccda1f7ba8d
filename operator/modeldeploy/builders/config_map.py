"""The ConfigMap holding one revision's config.pbtxt."""

from __future__ import annotations

from ..api import ModelDeployment
from . import naming as n
from .triton_config import render_model_config


def build_config_map(md: ModelDeployment) -> dict:
    version = md.spec.model.version
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": n.metadata(md, n.config_map_name(md, version), n.revision_labels(md, version)),
        "data": {"config.pbtxt": render_model_config(md)},
    }
