"""Writes the chart's values table into a Markdown file, from values.schema.json and values.yaml.

    python scripts/values_table.py charts/modeldeploy-operator/values.schema.json docs/install.md

The table goes between the markers <!-- values:start --> and <!-- values:end -->.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

START, END = "<!-- values:start -->", "<!-- values:end -->"


def rows(schema: dict, defaults: object, prefix: str = "") -> list[str]:
    out = []
    for name, prop in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        default = defaults.get(name) if isinstance(defaults, dict) else None
        if prop.get("type") == "object" and prop.get("properties"):
            out += rows(prop, default, f"{key}.")
            continue
        allowed = prop.get("enum")
        kind = " \\| ".join(f"`{v}`" for v in allowed) if allowed else prop.get("type", "")
        bounds = [f"{word} {prop[k]}" for k, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"))
                  if k in prop]
        shown = json.dumps(default) if default not in (None, "") else '""' if default == "" else ""
        out.append(f"| `{key}` | {kind}{' (' + ', '.join(bounds) + ')' if bounds else ''} | `{shown}` | "
                   f"{prop.get('description', '')} |")
    return out


def main() -> None:
    schema_path, doc_path = Path(sys.argv[1]), Path(sys.argv[2])
    schema = json.loads(schema_path.read_text())
    defaults = yaml.safe_load((schema_path.parent / "values.yaml").read_text())
    table = "\n".join(["| value | type | default | meaning |", "| --- | --- | --- | --- |", *rows(schema, defaults)])
    text = doc_path.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    doc_path.write_text(f"{head}{START}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
