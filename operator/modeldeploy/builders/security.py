"""The restricted Pod Security profile, applied to every pod and container we build.

Functions, not constants: each manifest gets its own dicts, so no later edit
of one object can leak into another.
"""

from __future__ import annotations

RUN_AS_USER = 1000


def pod_security_context() -> dict:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pull_policy(image: str) -> str:
    """A digest names fixed bits: pull once. A tag can move: check it at every start, so every node
    runs what the tag names now (for cached layers that is a manifest request, not a download)."""
    return "IfNotPresent" if "@sha256:" in image else "Always"
