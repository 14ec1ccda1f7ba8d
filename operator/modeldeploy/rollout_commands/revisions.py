"""The revisions kept as Deployments, the spec each one served, and what changed between two of them.

Each revision's Deployment carries its number (`revision-number`) and the
serving part of the spec it was made from (`revision-spec`, JSON): that is
what `undo` writes back and what `history` compares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..api import InvalidSpec, parse_model_deployment
from ..builders.deployment import revision_spec
from ..builders.naming import REVISION_LABEL, REVISION_NUMBER_ANNOTATION, REVISION_SPEC_ANNOTATION

VALUE_WIDTH = 40  # a changed value longer than this is cut, so one change stays on one line


@dataclass(frozen=True)
class Revision:
    number: int
    name: str  # "v2", "v2-2": the Deployment's suffix
    deployment: str
    version: str
    replicas: int
    spec: dict | None  # the serving spec it was made from; None when the annotation is missing or unreadable
    recorded: str | None  # the annotation as written, compared byte for byte with the spec's own

    @classmethod
    def of(cls, deployment: dict) -> Revision | None:
        meta = deployment["metadata"]
        annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
        number = annotations.get(REVISION_NUMBER_ANNOTATION, "")
        if not number.isdigit() or not labels.get(REVISION_LABEL):
            return None  # not a revision Deployment the operator made
        recorded = annotations.get(REVISION_SPEC_ANNOTATION)
        try:
            spec = json.loads(recorded) if recorded else None
        except ValueError:
            spec = None
        return cls(int(number), labels[REVISION_LABEL], meta["name"], labels.get("app.kubernetes.io/version", "?"),
                   int((deployment.get("spec") or {}).get("replicas", 0)), spec if isinstance(spec, dict) else None,
                   recorded)


def kept(deployments: list[dict]) -> list[Revision]:
    """The revisions, oldest first."""
    return sorted(filter(None, (Revision.of(d) for d in deployments)), key=lambda r: r.number)


def serving_spec_of(body: dict) -> str | None:
    """The current spec's serving part as a revision records it; None when the spec does not validate."""
    try:
        md = parse_model_deployment({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body})
    except InvalidSpec:
        return None
    return revision_spec(md)


def asked_by_spec(body: dict, revisions: list[Revision]) -> Revision | None:
    """The revision whose spec the ModelDeployment asks for now (the newest, if several served the same)."""
    current = serving_spec_of(body)
    return next((r for r in reversed(revisions) if current is not None and r.recorded == current), None)


def changes(before: dict | None, after: dict | None) -> list[str]:
    """What differs between two serving specs, one "path: old → new" per leaf."""
    if before is None or after is None:
        return ["spec not recorded"]
    old, new = _leaves(before), _leaves(after)
    found = []
    for path in sorted(old.keys() | new.keys(), key=_path_order):
        if path not in old:
            found.append(f"{path}: {_short(new[path])} (added)")
        elif path not in new:
            found.append(f"{path}: {_short(old[path])} (removed)")
        elif old[path] != new[path]:
            found.append(f"{path}: {_short(old[path])} → {_short(new[path])}")
    return found


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, (dict, list)) and not value:
        return {}  # an empty list or map is no leaf: `env: []` gaining an entry is that entry, added
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(_leaves(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _path_order(path: str) -> tuple:
    # model.* first: the version and the artifact are what a reader looks for.
    return (not path.startswith("model."), path)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 1] + "…"
