"""Validation errors a user can act on: the field path, what is wrong, and the fix.

pydantic reports union branches, type names and internal tags; this module
turns them into one line per field, e.g.
``spec.autoscaling.minReplicas: must be ≤ maxReplicas (5 > 2)``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from .base import DNS1123_LABEL, DURATION_PATTERN, QUANTITY_PATTERN, FieldError
from .resource import NAME_PATTERN, ModelDeployment


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidSpec(ValueError):
    """A ModelDeployment that can never work as written."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def parse_model_deployment(data: Any) -> ModelDeployment:
    """Validate a ModelDeployment object, raising InvalidSpec with every problem."""
    try:
        return ModelDeployment.model_validate(data)
    except ValidationError as err:
        raise InvalidSpec(problems_from(err)) from None


# pydantic adds these to an error's location for union members and wrapped
# validators; they are not fields.
_TAG = re.compile(r"^(int|str|float|bool|none|constrained-\w+|[a-z-]+\[.*\])$")

_TYPE_WORDS = {
    "int_type": "an integer", "int_from_float": "a whole number", "string_type": "a string",
    "bool_type": "true or false", "float_type": "a number", "list_type": "a list",
    "dict_type": "a mapping (key: value)", "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
}


_PATTERN_WORDS = {
    QUANTITY_PATTERN: 'a quantity such as "500m", "4" or "16Gi"',
    DURATION_PATTERN: 'a duration such as "50ms", "60s" or "1m30s"',
    NAME_PATTERN: 'a DNS-1035 name: lowercase letters, digits and "-", starting with a letter',
    DNS1123_LABEL: 'a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit',
}


_INT_OR_STRING = {"int_type", "int_from_float", "int_parsing", "string_type", "string_pattern_mismatch"}


def problems_from(err: ValidationError) -> list[Problem]:
    by_path: dict[str, list[dict[str, Any]]] = {}
    for e in err.errors(include_url=False):
        e = {**e, "loc": [p for p in e["loc"] if not (isinstance(p, str) and _TAG.match(p))]}
        by_path.setdefault(_path(e["loc"]), []).append(e)
    problems = []
    for errors in by_path.values():
        kinds = {e["type"] for e in errors}
        if len(kinds) > 1 and kinds <= _INT_OR_STRING and kinds & {"string_type", "string_pattern_mismatch"}:
            # An int-or-string field: one sentence for both union branches.
            pattern = next((e["ctx"]["pattern"] for e in errors if e["type"] == "string_pattern_mismatch"),
                           None) or _pattern_at(errors[0]["loc"])
            words = _PATTERN_WORDS.get(pattern, f"a string matching {pattern}") if pattern else "a string"
            given = errors[0]["input"]
            hint = f': quote it, "{given}"' if isinstance(given, float) else ""
            problems.append(Problem(_path(errors[0]["loc"]), f"must be an integer or {words}, not "
                                                             f"{_shown(given)}{hint}"))
            continue
        for e in errors:
            problem = Problem(*_explain(e))
            if problem not in problems:
                problems.append(problem)
    return problems


# Fields that moved: an unknown field there says where it went (and the other problems still show).
MOVED_FIELDS = {
    "spec.model.credentialsSecret": "moved to storage.credentialsSecret: write storage: {{credentialsSecret: {}}}",
}


def _explain(e: dict[str, Any]) -> tuple[str, str]:
    loc = e["loc"]
    kind, ctx, given = e["type"], e.get("ctx") or {}, e.get("input")
    if kind == "value_error" and isinstance(ctx.get("error"), FieldError):
        field_error: FieldError = ctx["error"]
        return _path(loc + field_error.field.split(".")), field_error.message
    if kind == "extra_forbidden":
        moved = MOVED_FIELDS.get(_path(loc))
        return _path(loc), moved.format(given) if moved else _unknown_field(loc)
    if kind == "missing":
        return _path(loc), "required field is missing; add it"
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool) \
            and _pattern_at(loc) == DURATION_PATTERN:
        return _path(loc), (f"must be {_PATTERN_WORDS[DURATION_PATTERN]}, not {_shown(given)}: add the unit, "
                            f'such as "{given}ms" or "{given}s"')
    if kind in _TYPE_WORDS:
        return _path(loc), f"must be {_TYPE_WORDS[kind]}, not {_shown(given)}{_type_hint(kind, given)}"
    if kind == "literal_error":
        return _path(loc), f"must be one of {ctx.get('expected')}, not {_shown(given)}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        return _path(loc), f"must be {_PATTERN_WORDS.get(pattern, f'a string matching {pattern}')}, not {_shown(given)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        return _path(loc), f"must be {sign} {bound}, not {_shown(given)}"
    if kind == "string_too_long" and _path(loc) in _WHY_TOO_LONG:
        return _path(loc), (f"is {len(given)} characters; the limit is {ctx['max_length']} because "
                            f"{_WHY_TOO_LONG[_path(loc)]}")
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        unit = "characters" if kind.startswith("string") else "entries"
        size = f"{len(given)} {unit}" if isinstance(given, (str, list, dict)) else "too many"
        if "max_length" in ctx:
            return _path(loc), f"has {size}; at most {ctx['max_length']} are allowed"
        return _path(loc), f"has {size}; at least {ctx['min_length']} are needed"
    if kind == "value_error":
        return _path(loc), str(ctx.get("error", e["msg"]))
    return _path(loc), e["msg"]


# Limits whose reason is not obvious from the field alone.
_WHY_TOO_LONG = {
    "metadata.name": "the operator derives its children's names from it (Service <name>-metrics, Deployment "
                     "<name>-v<version>, ConfigMap <name>-v<version>-config), and Kubernetes allows 63 "
                     "characters in Service names and label values",
}


def _path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null (the key has no value)"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{type(value).__name__} {value!r}"


def _type_hint(kind: str, given: Any) -> str:
    """The fix for the usual YAML slips: yes/no read as booleans, a key left without its value (or what
    belongs under it not indented), a percentage where a count or a ratio goes."""
    if kind == "string_type" and isinstance(given, bool):
        return ": YAML reads yes, no, on, off, true and false unquoted as booleans; quote it"
    if kind in ("dict_type", "model_type", "model_attributes_type") and given is None:
        return "; indent what belongs under it"
    if isinstance(given, str) and given.endswith("%"):
        try:
            percent = float(given[:-1])
        except ValueError:
            return ""
        if kind == "float_type":
            return f": a fraction, write {percent / 100:g}"
        if kind in ("int_type", "int_from_float"):
            return ": a count, not a percentage"
    return ""


def _pattern_at(loc: list[Any]) -> str | None:
    """The string pattern the field at a location must match, found by walking the models."""
    walked = _walk(loc)
    field = walked[0] if walked else None
    if field is None:
        return None
    metadata = list(field.metadata)
    pending = [field.annotation]
    while pending:  # every member of a union, every layer of Annotated
        annotated = pending.pop()
        if typing.get_origin(annotated) is typing.Annotated:
            metadata += list(typing.get_args(annotated)[1:])
            pending.append(typing.get_args(annotated)[0])
        elif isinstance(annotated, types.UnionType) or typing.get_origin(annotated) is typing.Union:
            pending += [a for a in typing.get_args(annotated) if a is not type(None)]
    for item in metadata:
        found = getattr(item, "pattern", None) or next(
            (getattr(m, "pattern", None) for m in getattr(item, "metadata", []) if getattr(m, "pattern", None)), None)
        if found:
            return found
    return None


def _unknown_field(loc: list[Any]) -> str:
    name = str(loc[-1])
    known = _known_fields(loc[:-1])
    if not known:
        return "unknown field; remove it"
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown field; {hint}remove it or use one of: {', '.join(known)}"


def _known_fields(loc: list[Any]) -> list[str]:
    """The camelCase fields allowed at a location, found by walking the models."""
    walked = _walk(loc)
    if walked is None:
        return []
    current = _unwrap(walked[1])
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _walk(loc: list[Any]) -> tuple[Any, Any] | None:
    """The models from ModelDeployment down a location: the last field named on the way and the type at its
    end; None when a name on the way is no field."""
    current: Any = ModelDeployment
    field = None
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            args = typing.get_args(current)
            current = args[-1] if args else None
            continue
        field = next((f for f in current.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        current = field.annotation
    return field, current


def _unwrap(tp: Any) -> Any:
    """X | None -> X; Annotated[X, ...] -> X."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp
