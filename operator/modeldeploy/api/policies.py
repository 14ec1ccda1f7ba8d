"""spec.autoscaling, spec.rollout and spec.networkPolicy.

Autoscaling and rollout are declared and validated here; the operator's
autoscaler and rollout controller give them behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import DNS1123_LABEL, DURATION_PATTERN, ApiModel, Duration, FieldError, cel_rules, cross_field_rules

MAX_ROLLOUT_STEPS = 10
AutoscalingMetric = Literal["queueTime", "pendingRequests", "inflight", "cpu"]

class Autoscaling(ApiModel):
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(ge=1, le=1000)
    metric: AutoscalingMetric = Field(
        default="queueTime",
        description="queueTime (average queue time per request), pendingRequests and inflight "
                    "(per replica), or cpu (percent of the CPU request).",
    )
    target: int | Annotated[str, Field(pattern=DURATION_PATTERN)] = Field(
        description='A duration for queueTime ("50ms"); a count for pendingRequests and inflight; '
                    "a percentage (1-100) for cpu.",
    )
    engine: Literal["builtin", "hpa", "keda"] = "builtin"

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
             "message": "minReplicas must be <= maxReplicas"},
            {"rule": "self.metric != 'queueTime' || type(self.target) == string",
             "message": "metric queueTime takes a duration target such as \"50ms\""},
            {"rule": "!has(self.metric) || self.metric == 'queueTime' || type(self.target) == int",
             "message": "metrics pendingRequests, inflight and cpu take a number as target"},
            {"rule": "!has(self.metric) || self.metric != 'cpu' || "
                     "(type(self.target) == int && int(self.target) >= 1 && int(self.target) <= 100)",
             "message": "metric cpu takes a percentage target between 1 and 100"},
            {"rule": "!has(self.metric) || self.metric != 'cpu' || (has(self.engine) && self.engine != 'builtin')",
             "message": "metric cpu is scaled by engine hpa or keda, not builtin"},
        )
    }

    @model_validator(mode="after")
    @cross_field_rules
    def _consistent(self) -> Iterator[FieldError]:
        if self.min_replicas > self.max_replicas:
            yield FieldError(
                "minReplicas", f"must be ≤ maxReplicas ({self.min_replicas} > {self.max_replicas})",
            )
        if self.metric == "cpu" and self.engine == "builtin":
            yield FieldError("engine", "metric cpu is scaled by engine hpa or keda; set engine: hpa")
        if self.metric == "queueTime" and not isinstance(self.target, str):
            yield FieldError("target", f'metric queueTime takes a duration: write target: "{self.target}ms"')
        elif self.metric != "queueTime" and not isinstance(self.target, int):
            yield FieldError("target", f"metric {self.metric} takes a number, not {self.target!r}")
        elif self.metric == "cpu" and not 1 <= int(self.target) <= 100:
            yield FieldError("target", f"metric cpu takes a percentage between 1 and 100, not {self.target}")
        elif isinstance(self.target, int) and self.target < 1:
            yield FieldError("target", f"must be at least 1, not {self.target}")

class RolloutStep(ApiModel):
    weight: int = Field(ge=1, le=100, description="Percent of traffic to the new version.")
    pause: Duration | None = Field(default=None, description="How long to hold this step before analysis.")

class Analysis(ApiModel):
    max_error_ratio: float = Field(default=0.01, ge=0.0, le=1.0)
    max_p99_latency: Duration | None = None
    smoke_test: bool = True

class Rollout(ApiModel):
    strategy: Literal["Canary", "BlueGreen", "Recreate"] = "Canary"
    steps: list[RolloutStep] = Field(default_factory=list, max_length=MAX_ROLLOUT_STEPS)
    analysis: Analysis = Field(default_factory=Analysis)
    max_surge: int = Field(
        default=1, ge=0, le=100,
        description="Extra replicas (and so GPUs) a rollout may add on top of the current ones.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.steps) || "
                     + str(list(range(1, MAX_ROLLOUT_STEPS)))
                     + ".all(i, i >= size(self.steps) || self.steps[i].weight > self.steps[i - 1].weight)",
             "message": "rollout step weights must be strictly increasing"},
            {"rule": "!has(self.steps) || size(self.steps) == 0 || !has(self.strategy) || self.strategy == 'Canary'",
             "message": "steps apply to the Canary strategy only"},
        )
    }

    @model_validator(mode="after")
    @cross_field_rules
    def _steps_increase(self) -> Iterator[FieldError]:
        if self.steps and self.strategy != "Canary":
            yield FieldError("steps", f"apply to the Canary strategy only; remove them for {self.strategy}")
        for index, (before, after) in enumerate(zip(self.steps, self.steps[1:]), start=1):
            if after.weight <= before.weight:
                yield FieldError(
                    f"steps[{index}].weight",
                    f"weights must be strictly increasing ({after.weight} after {before.weight})",
                )

class NetworkPolicySpec(ApiModel):
    enabled: bool = True
    allowed_namespaces: list[Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)]] = Field(
        default_factory=list, max_length=32,
        description="Namespaces, besides this one, whose pods may call the inference ports.",
    )
    metrics_namespace: str = Field(
        default="monitoring", pattern=DNS1123_LABEL, max_length=63,
        description="The only namespace allowed to scrape Triton's metrics port.",
    )

