"""spec.autoscaling, spec.rollout and spec.networkPolicy.

Autoscaling and rollout are declared and validated here; the operator's
autoscaler and rollout controller give them behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .autoscaling import BuiltinAutoscaler, HpaBehavior
from .base import (DNS1123_LABEL, DNS1123_SUBDOMAIN, DURATION_PATTERN, ApiModel, Duration, FieldError, cel_rules,
                   cross_field_rules, duration_seconds)

MAX_ROLLOUT_STEPS = 10
MIN_ANALYSIS_INTERVAL_SECONDS = 1
# A GPU pod pulls an image and loads a model: a shorter deadline would roll back every rollout.
MIN_PROGRESS_DEADLINE_SECONDS = 10
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
    builtin: BuiltinAutoscaler | None = Field(
        default=None, description="Settings of the builtin engine; every field has a default.")
    behavior: HpaBehavior | None = Field(
        default=None, description="The HorizontalPodAutoscaler's behavior (engines hpa and keda), as autoscaling/v2 "
                                  "spells it.")

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
            {"rule": "type(self.target) != string || duration(self.target) > duration('0s')",
             "message": "a queue time target must be more than 0, such as \"50ms\""},
            {"rule": "type(self.target) != int || int(self.target) >= 1",
             "message": "a count target must be at least 1"},
            {"rule": "!has(self.metric) || self.metric != 'cpu' || (has(self.engine) && self.engine != 'builtin')",
             "message": "metric cpu is scaled by engine hpa or keda, not builtin"},
            {"rule": "!has(self.builtin) || !has(self.engine) || self.engine == 'builtin'",
             "message": "builtin settings apply to engine builtin only"},
            {"rule": "!has(self.behavior) || (has(self.engine) && self.engine != 'builtin')",
             "message": "behavior is the HPA's: it applies to engines hpa and keda"},
        )
    }

    @field_validator("target", mode="before")
    @classmethod
    def _whole_or_duration(cls, value: object) -> object:
        # One message, not one per branch of the union ("must be an integer", "must be a string").
        if isinstance(value, bool) or not isinstance(value, int | str):
            shown = str(value).lower() if isinstance(value, bool) else value
            hint = f" ({math.ceil(value)} for a count, or \"{value}ms\" for queueTime)" \
                if isinstance(value, float) and math.isfinite(value) and value > 0 else ""
            raise ValueError(f"must be a whole number (pendingRequests, inflight, cpu) or a duration such as "
                             f"\"50ms\" (queueTime), not {shown}{hint}")
        return value

    @property
    def builtin_settings(self) -> BuiltinAutoscaler:
        return self.builtin or BuiltinAutoscaler()

    @property
    def target_value(self) -> float:
        """The target as a number: milliseconds for queueTime, a count or percent otherwise."""
        return duration_seconds(self.target) * 1000.0 if isinstance(self.target, str) else float(self.target)

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
        elif isinstance(self.target, str) and self.target_value <= 0:
            yield FieldError("target", f'a queue time target must be more than 0, not {self.target!r}: '
                                       f'the queue time to hold replicas at, such as "50ms"')
        elif self.metric != "queueTime" and not isinstance(self.target, int):
            yield FieldError("target", f"metric {self.metric} takes a number, not {self.target!r}")
        elif self.metric == "cpu" and not 1 <= int(self.target) <= 100:
            yield FieldError("target", f"metric cpu takes a percentage between 1 and 100, not {self.target}")
        elif isinstance(self.target, int) and self.target < 1:
            yield FieldError("target", f"must be at least 1, not {self.target}")
        if self.builtin is not None and self.engine != "builtin":
            yield FieldError("builtin", f"applies to engine builtin only; remove it or set engine: builtin "
                                        f"(engine is {self.engine})")
        if self.behavior is not None and self.engine == "builtin":
            yield FieldError("behavior", "is the HPA's behavior: it applies to engines hpa and keda; "
                                         "tune the builtin engine under builtin")

class RolloutStep(ApiModel):
    weight: int = Field(ge=1, le=100, description="Percent of traffic to the new revision.")
    pause: Duration | None = Field(
        default=None,
        description="How long to hold this step (analysis runs meanwhile); unset: until `modeldeploy rollout promote`.",
    )


class Analysis(ApiModel):
    """How a new revision is judged, on Triton's own metrics, against absolute and relative thresholds."""

    interval: Duration = Field(default="10s", description="How often the canary's and stable's metrics are compared.")
    max_error_ratio: float = Field(default=0.01, ge=0.0, le=1.0, description="Failed / all requests, per interval.")
    max_p99_latency: Duration | None = Field(default=None, description="Canary p99 request latency at most this.")
    max_latency_increase: float | None = Field(
        default=1.5, ge=1.0, le=100.0,
        description="Canary mean latency at most this many times the stable's (unset: no relative check).",
    )
    latency_margin: Duration = Field(
        default="5ms",
        description="A canary slower than the stable by less than this passes the relative check whatever the "
                    "ratio: at a few milliseconds, cold caches and a busy node move the mean by more than 1.5×.",
    )
    min_requests: int = Field(default=20, ge=1, le=1_000_000,
                              description="An interval with fewer canary requests is inconclusive.")
    failure_limit: int = Field(default=2, ge=1, le=100, description="Failing intervals that abort the rollout.")
    require_traffic: bool = Field(
        default=False,
        description="Hold each step while the analysis is inconclusive (until progressDeadline); by default an "
                    "idle model still rolls out, guarded by the smoke inference.",
    )
    smoke_test: bool = Field(
        default=True,
        description="Send an inference shaped from the model config to every new pod before it takes traffic.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.interval) || duration(self.interval) >= duration('1s')",
             "message": "analysis.interval must be at least 1s"},
        )
    }

    @model_validator(mode="after")
    @cross_field_rules
    def _interval(self) -> Iterator[FieldError]:
        if duration_seconds(self.interval) < MIN_ANALYSIS_INTERVAL_SECONDS:
            yield FieldError("interval", f"must be at least 1s, not {self.interval}: each interval compares the "
                                         f"requests it saw; the default is \"10s\"")


class GatewayParentRef(ApiModel):
    name: str = Field(max_length=253, pattern=DNS1123_SUBDOMAIN, description="A Gateway this HTTPRoute attaches to.")
    namespace: str | None = Field(default=None, max_length=63, pattern=DNS1123_LABEL)
    section_name: str | None = Field(default=None, max_length=253, pattern=DNS1123_SUBDOMAIN)


class GatewayApiRouting(ApiModel):
    parent_refs: list[GatewayParentRef] = Field(min_length=1, max_length=8)
    hostnames: list[Annotated[str, Field(max_length=253)]] = Field(default_factory=list, max_length=16)


class TrafficRouting(ApiModel):
    gateway_api: GatewayApiRouting | None = Field(
        default=None, description="Exact weights through an HTTPRoute over one Service per revision.",
    )


class BlueGreen(ApiModel):
    auto_promote: bool = Field(default=True, description="Switch traffic once the preview passes smoke and analysis.")
    preview_duration: Duration = Field(default="0s", description="Least time the preview runs before a promotion.")
    scale_down_delay: Duration = Field(
        default="30s", description="How long the old revision stays at full size after the switch (instant switch-back).",
    )


class Rollout(ApiModel):
    strategy: Literal["Canary", "BlueGreen", "Recreate"] = Field(
        default="Canary",
        description="Canary: shift traffic in steps within the surge budget. BlueGreen: a full preview copy, then "
                    "one switch (needs maxSurge >= replicas). Recreate: old pods go before new ones start (no spare "
                    "GPU; an outage).",
    )
    steps: list[RolloutStep] = Field(default_factory=list, max_length=MAX_ROLLOUT_STEPS)
    analysis: Analysis = Field(default_factory=Analysis)
    max_surge: int = Field(
        default=1, ge=0, le=1000,
        description="Pods (and so GPUs) a rollout may run above spec.replicas, all revisions counted.",
    )
    max_unavailable: int = Field(
        default=0, ge=0, le=1000,
        description="Pods below spec.replicas that may be not serving during a rollout.",
    )
    progress_deadline: Duration = Field(
        default="10m", description="A new revision not serving by then is rolled back.",
    )
    traffic_routing: TrafficRouting | None = None
    blue_green: BlueGreen = Field(default_factory=BlueGreen)
    paused: bool = Field(default=False, description="Hold the rollout where it is (`modeldeploy rollout pause`).")
    revision_history_limit: int = Field(
        default=3, ge=0, le=10, description="Old revisions kept at 0 replicas, for a fast undo.",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.steps) || "
                     + str(list(range(1, MAX_ROLLOUT_STEPS)))
                     + ".all(i, i >= size(self.steps) || self.steps[i].weight > self.steps[i - 1].weight)",
             "message": "rollout step weights must be strictly increasing"},
            {"rule": "!has(self.steps) || size(self.steps) == 0 || !has(self.strategy) || self.strategy == 'Canary'",
             "message": "steps apply to the Canary strategy only"},
            {"rule": "(has(self.maxSurge) ? self.maxSurge : 1) + (has(self.maxUnavailable) ? self.maxUnavailable : 0)"
                     " > 0 || (has(self.strategy) && self.strategy == 'Recreate')",
             "message": "maxSurge and maxUnavailable cannot both be 0: a rollout needs room for one new pod"},
            {"rule": "!has(self.trafficRouting) || !has(self.strategy) || self.strategy == 'Canary'",
             "message": "trafficRouting applies to the Canary strategy only"},
            {"rule": "!has(self.progressDeadline) || duration(self.progressDeadline) >= duration('10s')",
             "message": "progressDeadline must be at least 10s"},
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
        if self.max_surge == 0 and self.max_unavailable == 0 and self.strategy != "Recreate":
            yield FieldError("maxUnavailable", "maxSurge and maxUnavailable cannot both be 0: a rollout needs "
                                               "room for one new pod; allow maxSurge: 1 (one extra GPU pod) or "
                                               "maxUnavailable: 1 (one pod fewer while it starts)")
        if self.traffic_routing is not None and self.strategy != "Canary":
            yield FieldError("trafficRouting", f"applies to the Canary strategy only, not {self.strategy}")
        if duration_seconds(self.progress_deadline) < MIN_PROGRESS_DEADLINE_SECONDS:
            yield FieldError("progressDeadline", f"must be at least 10s, not {self.progress_deadline}: a new "
                                                 f"revision's pods must pull, load and serve within it, or the "
                                                 f"rollout is rolled back; the default is \"10m\"")


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

