"""Objects Kubernetes would refuse for their size, found before anything is applied.

etcd and the API server refuse objects over about 1.5 MiB, and a ConfigMap's
data may not pass 1 MiB. The ModelDeployment's free-form and list fields are
bounded one by one (api/), but their sum is what counts: this checks the
rendered objects themselves, with the spec fields that weigh most.
"""

from __future__ import annotations

import json
from typing import Any

from ..api import ModelDeployment, Problem

MAX_OBJECT_BYTES = 1 << 20  # the ConfigMap data limit; kept for every object, under etcd's 1.5 MiB
# apimachinery's TotalAnnotationSizeLimitB: keys and values of one object's annotations (a pod template's too).
MAX_ANNOTATION_BYTES = 256 << 10


def json_size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def size_problems(md: ModelDeployment, objects: list[dict]) -> list[Problem]:
    """One problem per object (the ModelDeployment included) over MAX_OBJECT_BYTES."""
    problems = []
    for obj in [md.to_wire(), *objects]:
        size = json_size(obj.get("data", {})) if obj["kind"] == "ConfigMap" else json_size(obj)
        if size > MAX_OBJECT_BYTES:
            what = f"{obj['kind']} {obj['metadata']['name']}" + (" data" if obj["kind"] == "ConfigMap" else "")
            problems.append(Problem("", f"{what} would be {_mib(size)}; Kubernetes stores at most "
                                        f"{_mib(MAX_OBJECT_BYTES)} per object. The largest fields: "
                                        + ", ".join(f"{path} ({_kib(n)})" for path, n in heaviest(md.to_wire()))))
        for where, meta in _metadata(obj):
            size = sum(len(k.encode()) + len(str(v).encode()) for k, v in (meta.get("annotations") or {}).items())
            if size > MAX_ANNOTATION_BYTES:
                problems.append(Problem("", f"the annotations of {obj['kind']} {obj['metadata']['name']}{where} "
                                            f"would be {_kib(size)}; Kubernetes allows {_kib(MAX_ANNOTATION_BYTES)} "
                                            "(a revision records its spec in an annotation). The largest fields: "
                                            + ", ".join(f"{path} ({_kib(n)})" for path, n in heaviest(md.to_wire()))))
    return problems


def _metadata(obj: dict) -> list[tuple[str, dict]]:
    """The object's metadata, and its pod template's."""
    found = [("", obj.get("metadata") or {})]
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        found.append((" (pod template)", template.get("metadata") or {}))
    return found


def heaviest(wire: dict, count: int = 3, depth: int = 4) -> list[tuple[str, int]]:
    """The fields of spec, down to `depth` levels, that take the most bytes."""
    sizes: list[tuple[str, int]] = []

    def walk(value: Any, path: str, level: int) -> None:
        if level == depth or not isinstance(value, dict):
            sizes.append((path, json_size(value)))
            return
        for key, child in value.items():
            walk(child, f"{path}.{key}", level + 1)

    walk(wire.get("spec", {}), "spec", 1)
    return sorted(sizes, key=lambda item: -item[1])[:count]


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.2f} MiB"


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB"
