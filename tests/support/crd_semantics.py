"""What the API server would do with a ModelDeployment, given our CRD.

No API server runs here, so this applies the CRD the way one does: structural
defaults first, then the OpenAPI schema (types, enums, bounds, patterns), then
every x-kubernetes-validations CEL rule at every node it is attached to, with
a real CEL implementation (cel-python). Transition rules (those using oldSelf)
run only on updates, as on a cluster.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import celpy
import jsonschema

from modeldeploy.crdgen import resource_schema

_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


@dataclass(frozen=True)
class Rejection:
    path: str
    message: str


def apply_defaults(schema: dict, obj: Any) -> Any:
    """Fill structural defaults into present objects, as the API server does on write."""
    if isinstance(obj, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name not in obj and "default" in sub:
                obj[name] = copy.deepcopy(sub["default"])
            if name in obj:
                apply_defaults(sub, obj[name])
    elif isinstance(obj, list) and "items" in schema:
        for item in obj:
            apply_defaults(schema["items"], item)
    return obj


def _program(rule: str) -> Any:
    if rule not in _PROGRAMS:
        _PROGRAMS[rule] = _ENV.program(_ENV.compile(rule))
    return _PROGRAMS[rule]


def cel_rejections(schema: dict, obj: Any, old: Any = None, path: str = "") -> list[Rejection]:
    out: list[Rejection] = []
    for rule in schema.get("x-kubernetes-validations", []):
        is_transition = "oldSelf" in rule["rule"]
        if is_transition and old is None:
            continue
        activation = {"self": celpy.json_to_cel(obj)}
        if is_transition:
            activation["oldSelf"] = celpy.json_to_cel(old)
        try:
            result = _program(rule["rule"]).evaluate(activation)
        except celpy.CELEvalError as err:
            out.append(Rejection(path, f"rule error in {rule['rule']!r}: {err}"))
            continue
        if isinstance(result, celpy.CELEvalError):
            out.append(Rejection(path, f"rule error in {rule['rule']!r}: {result}"))
        elif not bool(result):
            out.append(Rejection(path, rule["message"]))
    if isinstance(obj, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in obj:
                old_child = old.get(name) if isinstance(old, dict) else None
                out += cel_rejections(sub, obj[name], old_child, f"{path}.{name}" if path else name)
    elif isinstance(obj, list) and "items" in schema:
        for index, item in enumerate(obj):
            out += cel_rejections(schema["items"], item, None, f"{path}[{index}]")
    return out


def schema_rejections(schema: dict, obj: Any) -> list[Rejection]:
    validator = jsonschema.Draft7Validator(schema)
    return [Rejection(".".join(str(p) for p in e.absolute_path), e.message) for e in validator.iter_errors(obj)]


def api_server_rejections(obj: dict, old: dict | None = None) -> list[Rejection]:
    """Every reason the API server would refuse this create (or update, given old)."""
    schema = resource_schema()
    obj = apply_defaults(schema, copy.deepcopy(obj))
    old = apply_defaults(schema, copy.deepcopy(old)) if old is not None else None
    found = schema_rejections(schema, obj)
    if found:  # the API server runs CEL only on schema-valid objects
        return found
    return cel_rejections(schema, obj, old)
