"""Shared building blocks of the API: the strict base model and scalar types.

Every API model is strict (no silent "3" -> 3 coercion, as the API server
would not do it either), forbids unknown fields, and speaks camelCase on the
wire while the Python side keeps snake_case attributes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic.alias_generators import to_camel

from .errors import FieldError  # noqa: F401 - the models import it from here
from .rules import cross_field_rules, rules_on_partial  # noqa: F401 - likewise

# A CEL rule attached to a model's schema: the CRD generator copies these into
# x-kubernetes-validations, and the same rule is enforced in Python by the
# model's own validator (tests check that both agree).
CelRule = dict[str, str]


def cel_rules(*rules: CelRule) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


class ApiModel(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem_at_once(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Field errors no longer hide the cross-field rules (see rules.py).
        try:
            return handler(data)
        except ValidationError as failed:
            raise (rules_on_partial(cls, data, failed) or failed) from None

    def to_wire(self) -> dict[str, Any]:
        """The object as the Kubernetes API would store it: camelCase, no unset fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# Positive Kubernetes quantities in canonical suffix form ("500m", "4", "16Gi").
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
Quantity = Annotated[
    int | Annotated[str, Field(pattern=QUANTITY_PATTERN)],
    Field(description="A Kubernetes quantity, e.g. 4, \"500m\", \"16Gi\"."),
]

DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, description='A duration such as "500ms", "60s", "5m" or "1h30m".'),
]


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """ "1m30s" → 90.0; the same grammar as DURATION_PATTERN (and CEL's duration())."""
    parts = re.findall(r"([0-9]+)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
