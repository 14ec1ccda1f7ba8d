"""A container's environment as the kubelet builds it, and `$(VAR)` expansion in env, command and args.

envFrom first, then env in order; each value may refer to variables defined
before it with `$(NAME)` (`$$` escapes, unknown names stay as written), and
command/args are expanded against the result. valueFrom reads the pod's own
fields (fieldRef), Secrets and ConfigMaps (from the API, when the container
starts, like the kubelet); a missing one that is not optional is the
kubelet's CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping

Lookup = Callable[[str, str, str], dict | None]  # (kind "secrets"|"configmaps", namespace, name) → object


class ConfigError(Exception):
    """The container cannot be created: CreateContainerConfigError with this message."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion (third_party/forked/golang/expansion): $(VAR), $$ escapes, the rest as is."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env[name] if name in env else f"$({name})")
                    i = end + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def field_value(pod: dict, path: str, host_ip: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if keyed:
        return (meta.get(keyed.group(1)) or {}).get(keyed.group(2), "")
    simple = {
        "metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta["uid"], "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": status.get("podIP", ""), "status.podIPs": status.get("podIP", ""),
        "status.hostIP": host_ip, "status.hostIPs": host_ip,
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldRef fieldPath {path!r}")
    return simple[path]


def _key_of(lookup: Lookup, kind: str, namespace: str, ref: dict) -> str | None:
    obj = lookup(kind, namespace, ref["name"])
    singular = kind[:-1]
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{singular} "{ref["name"]}" not found')
    values = _data(obj, kind)
    if ref["key"] not in values:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {ref['key']} in {singular.capitalize()} {namespace}/{ref['name']}")
    return values[ref["key"]]


def _data(obj: dict, kind: str) -> dict[str, str]:
    if kind == "secrets":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()} | \
            dict(obj.get("stringData") or {})
    return dict(obj.get("data") or {})


def container_env(pod: dict, container: dict, lookup: Lookup, host_ip: str) -> dict[str, str]:
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind, ref = ("configmaps", source["configMapRef"]) if "configMapRef" in source else \
            ("secrets", source["secretRef"])
        obj = lookup(kind, namespace, ref["name"])
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind[:-1]} "{ref["name"]}" not found')
        env.update({source.get("prefix", "") + k: v for k, v in _data(obj, kind).items()})
    for var in container.get("env") or []:
        if "valueFrom" not in var:
            env[var["name"]] = expand(var.get("value", ""), env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            value: str | None = field_value(pod, source["fieldRef"]["fieldPath"], host_ip)
        elif "secretKeyRef" in source:
            value = _key_of(lookup, "secrets", namespace, source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            value = _key_of(lookup, "configmaps", namespace, source["configMapKeyRef"])
        else:
            raise ConfigError(f"env {var['name']}: valueFrom {sorted(source)} is not supported by the harness")
        if value is not None:
            env[var["name"]] = value
    return env
