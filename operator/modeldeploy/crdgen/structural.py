"""Turn pydantic's JSON Schema into a Kubernetes structural schema.

Structural means: every node says its type, no $ref, no titles, anyOf only for
int-or-string, and object maps use additionalProperties instead of properties.
Optional fields (anyOf [X, null]) become plain X: the API server prunes a null
sent for a non-nullable field, which means the same as leaving it out.
Unknown keywords raise instead of slipping into the CRD unchecked.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

# JSON Schema keywords that carry over to OpenAPI v3 as they are.
_KEPT = {
    "type", "description", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength",
    "minItems", "maxItems", "minProperties", "maxProperties", "format", "default",
    "x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
}
# Handled below, or dropped because OpenAPI v3 in a CRD has no use for them.
_HANDLED = {"$ref", "$defs", "anyOf", "const", "properties", "required", "items",
            "additionalProperties", "title"}


class SchemaError(ValueError):
    pass


def to_structural(schema: Schema) -> Schema:
    """The structural form of a pydantic model's JSON Schema (mode='validation', by alias)."""
    return _convert(schema, schema.get("$defs", {}), path="")


def _convert(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    node = _inline_ref(node, defs)
    unknown = set(node) - _KEPT - _HANDLED
    if unknown:
        raise SchemaError(f"{path or '/'}: no structural form for keywords {sorted(unknown)}")

    if "anyOf" in node:
        return _convert_any_of(node, defs, path)

    out: Schema = {k: v for k, v in node.items() if k in _KEPT}
    if "const" in node:
        out["enum"] = [node["const"]]
    if out.get("default", 0) is None:
        del out["default"]

    if "properties" in node:
        out["type"] = "object"
        out["properties"] = {
            name: _convert(child, defs, f"{path}.{name}") for name, child in node["properties"].items()
        }
        if node.get("required"):
            out["required"] = list(node["required"])
    elif isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(node["additionalProperties"], defs, f"{path}.*")
    if "items" in node:
        out["items"] = _convert(node["items"], defs, f"{path}[]")
    if "type" not in out and not out.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"{path or '/'}: schema has no type")
    return _ordered(out)


def _convert_any_of(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    branches = [_inline_ref(b, defs) for b in node["anyOf"]]
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    non_null = [b for b in branches if b.get("type") != "null"]
    if len(non_null) == 1:
        merged = {**non_null[0], **{k: v for k, v in outer.items() if k != "default" or v is not None}}
        if merged.get("x-kubernetes-preserve-unknown-fields"):
            merged.pop("additionalProperties", None)
        return _convert(merged, defs, path)
    types = sorted(b.get("type") for b in non_null)
    if types == ["integer", "string"]:
        out = {k: v for k, v in outer.items() if k in _KEPT}
        if out.get("default", 0) is None:
            del out["default"]
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        out["x-kubernetes-int-or-string"] = True
        # A pattern in the string branch applies to strings only, as it does at the top level.
        pattern = next((b["pattern"] for b in non_null if "pattern" in b), None)
        if pattern:
            out["pattern"] = pattern
        return _ordered(out)
    raise SchemaError(f"{path}: anyOf of {types} has no structural form; only int-or-string is allowed")


def _inline_ref(node: Schema, defs: dict[str, Schema]) -> Schema:
    if "$ref" not in node:
        return node
    target = defs[node["$ref"].rsplit("/", 1)[-1]]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


_ORDER = ["type", "description", "x-kubernetes-int-or-string", "anyOf", "enum", "default", "format",
          "pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "minProperties",
          "maxProperties", "required",
          "properties", "additionalProperties", "items", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
          "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations"]


def _ordered(schema: Schema) -> Schema:
    return {key: schema[key] for key in _ORDER if key in schema}
