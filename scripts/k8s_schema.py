"""Writes the structural schema of a core/v1 type (Affinity), from the official Kubernetes client's models.

The API models cannot import the Kubernetes client (only the clients layer talks
to Kubernetes), so the schema is generated here, committed, and read by the API
to check `runtime.affinity` field by field; the CRD carries it too, so the API
server refuses the same typos. `scripts/generate` runs this; CI fails on a diff.

Usage: python scripts/k8s_schema.py OUT.json
"""

from __future__ import annotations

import json
import re
import sys

from kubernetes import client

SCALARS = {"str": {"type": "string"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
           "float": {"type": "number"}}


def schema_of(type_name: str) -> dict:
    if type_name in SCALARS:
        return dict(SCALARS[type_name])
    if match := re.fullmatch(r"List\[(.+)\]", type_name):
        return {"type": "array", "items": schema_of(match.group(1))}
    if match := re.fullmatch(r"Dict\[str, (.+)\]", type_name):
        return {"type": "object", "additionalProperties": schema_of(match.group(1))}
    model = getattr(client, type_name)
    return {"type": "object", "properties": {
        model.attribute_map[attr]: schema_of(kind) for attr, kind in sorted(model.openapi_types.items())}}


def main(out: str) -> None:
    schema = {"description": "A core/v1 Affinity, passed to the pods as is.", **schema_of("V1Affinity")}
    with open(out, "w") as handle:
        json.dump(schema, handle, indent=1, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
