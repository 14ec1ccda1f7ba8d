"""runtime.affinity, checked against the official core/v1 Affinity schema.

The schema (affinity.schema.json) is generated from the Kubernetes client's
models by scripts/k8s_schema.py: field names and types, nothing hand-written.
The CRD carries the same schema, so `validate` and the API server refuse the
same typos (`nodeAffinty`, `valuez`) instead of a pod template that silently
loses them. Required fields and enum values are left to the API server.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("affinity.schema.json")
JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "number": (int, float), "object": dict,
              "array": list}


@cache
def affinity_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


def affinity_problem(value: Any) -> str | None:
    """The first place where `value` is no core/v1 Affinity, as `path: what is wrong; the fix`; else None."""
    return _problem(value, affinity_schema(), "")


def _problem(value: Any, schema: dict, path: str) -> str | None:
    expected = JSON_TYPES[schema["type"]]
    if not isinstance(value, expected) or (schema["type"] in ("integer", "number") and isinstance(value, bool)):
        return f"{path or 'affinity'}: must be {'an' if schema['type'][0] in 'aeiou' else 'a'} {schema['type']}, " \
               f"not {type(value).__name__}"
    if schema["type"] == "array":
        for index, item in enumerate(value):
            if found := _problem(item, schema["items"], f"{path}[{index}]"):
                return found
    elif "properties" in schema:
        known = schema["properties"]
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                return f"{where}: unknown field; {hint}core/v1 Affinity has here: {', '.join(sorted(known))}"
            if found := _problem(item, known[key], where):
                return found
    elif "additionalProperties" in schema:
        for key, item in value.items():
            if found := _problem(item, schema["additionalProperties"], f"{path}.{key}"):
                return found
    return None
