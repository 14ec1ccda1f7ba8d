"""Shared building blocks of the API: the strict base model and scalar types.

Every API model is strict (no silent "3" -> 3 coercion, as the API server
would not do it either), forbids unknown fields, and speaks camelCase on the
wire while the Python side keeps snake_case attributes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

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

    def to_wire(self) -> dict[str, Any]:
        """The object as the Kubernetes API would store it: camelCase, no unset fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class FieldError(ValueError):
    """A cross-field rule failed: names the offending field relative to the model."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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
