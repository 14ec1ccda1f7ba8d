"""Cross-field rules that report every broken rule, even next to field errors.

pydantic runs a model's `after` validators only once every field is valid, and
a validator stops at its first `raise`. So a user fixing a spec met its
problems in rounds: field errors first, then the first cross-field rule, then
the next. Here a rule method *yields* each FieldError it finds
(`@cross_field_rules`), and when field validation fails, the same rules run
on a partial object holding only the fields that did validate; a rule that
needs a missing field stops quietly (the field's own error is reported).
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import FieldError

RuleMethod = Callable[[Any], Iterator[FieldError]]


def cross_field_rules(rules: RuleMethod) -> Callable[[Any], Any]:
    """Turn a generator of FieldErrors into an `after` validator that raises them all."""

    def check(self: Any) -> Any:
        problems = list(rules(self))
        if problems:
            raise _validation_error(type(self).__name__, self, problems)
        return self

    check.cross_field_rules = rules  # type: ignore[attr-defined] - found again by rules_on_partial
    return check


def rules_on_partial(cls: type[BaseModel], data: Any, failed: ValidationError) -> ValidationError | None:
    """The field errors plus whatever the model's rules find among the fields that validated."""
    if not isinstance(data, dict):
        return None
    partial = _partial(cls, data, [tuple(e["loc"]) for e in failed.errors(include_url=False)])
    problems: list[FieldError] = []
    for decorator in cls.__pydantic_decorators__.model_validators.values():
        rules = getattr(decorator.func, "cross_field_rules", None)
        if rules is None:
            continue
        try:
            for problem in rules(partial):
                problems.append(problem)
        except (AttributeError, TypeError, ValueError):
            pass  # the rule reached a field that failed validation: that field's error says it
    if not problems:
        return None
    return _validation_error(cls.__name__, data, problems, error_details(failed))


def _partial(cls: type[BaseModel], data: dict, failed: list[tuple]) -> BaseModel:
    """cls built from the fields of data that validated; a field that failed is absent, or, when it is
    itself a model (or a list of models), a partial one in turn, so the rules above it still see
    its valid parts."""
    failed_keys = {loc[0] for loc in failed if loc}
    values, dropped = {}, []
    for name, field in cls.model_fields.items():
        key = field.alias if field.alias in data else name
        if key not in data:
            continue  # model_construct defaults it, as validation would
        if key in failed_keys:
            value = _as_written(field.annotation, data[key], [loc[1:] for loc in failed if loc and loc[0] == key])
        else:
            value = _validated(cls, name, data[key])
        if value is _UNUSABLE:
            dropped.append(name)
        else:
            values[name] = value
    partial = cls.model_construct(**values)
    for name in dropped:
        partial.__dict__.pop(name, None)  # absent, not defaulted: a rule must not judge a stand-in
    return partial


_UNUSABLE = object()


def _validated(cls: type[BaseModel], name: str, value: Any) -> Any:
    """A field value that passed validation, as the model holds it (nested models built)."""
    try:
        return _adapter(cls, name).validate_python(value)
    except ValidationError:
        return _UNUSABLE


def _as_written(annotation: Any, value: Any, failed: list[tuple]) -> Any:
    """A failed field as far as it can be used: a nested model as a partial one, a list of models
    as written (rules over a list, such as increasing weights, still speak when one element has a
    field error; a type slip there makes the rule stop), anything else unusable."""
    model = _model_type(annotation)
    if model is not None and isinstance(value, dict):
        return _partial(model, value, failed)
    args = typing.get_args(annotation)
    item = args[0] if typing.get_origin(annotation) is list and args else None
    if _model_type(item) is None or not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return _UNUSABLE
    return [item.model_construct(**{_name(item, k): v for k, v in element.items()}) for element in value]


def _model_type(annotation: Any) -> type[BaseModel] | None:
    """M for M or M | None, when M is a model."""
    members = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union else [annotation]
    model = members[0] if len(members) == 1 else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _name(model: type[BaseModel], key: str) -> str:
    return next((name for name, f in model.model_fields.items() if f.alias == key), key)


@functools.cache
def _adapter(cls: type[BaseModel], name: str) -> TypeAdapter:
    return TypeAdapter(cls.model_fields[name].annotation)


def error_details(failed: ValidationError) -> list[dict[str, Any]]:
    """A ValidationError's errors in the form that builds a new one (to add more errors to it)."""
    return [{k: e[k] for k in ("type", "loc", "input", "ctx") if k in e} for e in failed.errors(include_url=False)]


def _validation_error(title: str, data: Any, problems: list[FieldError],
                      details: list[dict[str, Any]] | None = None) -> ValidationError:
    rule_errors = [{"type": "value_error", "loc": (), "input": data, "ctx": {"error": p}} for p in problems]
    return ValidationError.from_exception_data(title, [*(details or []), *rule_errors])
