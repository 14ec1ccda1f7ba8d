"""The parts of spec.autoscaling: the builtin autoscaler's settings and the HPA behavior passed through.

`spec.autoscaling` itself is `policies.Autoscaling`; these models hang below it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import DURATION_PATTERN, ApiModel, FieldError, cel_rules, duration_seconds

ShortDuration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32,
                                     description='A duration such as "500ms", "6s", "1m" or "1m30s".')]


class BuiltinAutoscaler(ApiModel):
    """The operator's own autoscaler, after Knative's KPA: two windows, panic mode, rates, a scale-down delay."""

    stable_window: ShortDuration = Field(
        default="60s", description="Average over this window in normal (stable) operation.")
    panic_window: ShortDuration = Field(
        default="6s", description="The short window that detects a burst; shorter than stableWindow.")
    panic_threshold: float = Field(
        default=2.0, ge=1.1, le=10.0,
        description="Panic when the panic window asks for this many times the current replicas; "
                    "while panicking the autoscaler never scales down.")
    scale_down_delay: ShortDuration = Field(
        default="60s", description="A scale-down happens only after the lower count was asked for this long.")
    max_scale_up_rate: float = Field(
        default=1000.0, ge=1.0, le=1000.0,
        description="One decision may multiply the ready replicas by at most this.")
    max_scale_down_rate: float = Field(
        default=2.0, ge=1.0, le=1000.0,
        description="One decision may divide the ready replicas by at most this.")
    tick: ShortDuration = Field(default="2s", description="How often pods are scraped and a decision is made.")
    unschedulable_grace: ShortDuration = Field(
        default="120s",
        description="Pods Unschedulable for longer than this freeze scale-up at what is already asked "
                    "(ScalingLimited, InsufficientGPU) until they schedule.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "duration(has(self.panicWindow) ? self.panicWindow : '6s') < "
                     "duration(has(self.stableWindow) ? self.stableWindow : '60s')",
             "message": "panicWindow must be shorter than stableWindow"},
            {"rule": "duration(has(self.tick) ? self.tick : '2s') <= "
                     "duration(has(self.panicWindow) ? self.panicWindow : '6s')",
             "message": "tick must not be longer than panicWindow"},
            {"rule": "duration(has(self.tick) ? self.tick : '2s') >= duration('500ms')",
             "message": "tick must be at least 500ms"},
        )
    }

    @model_validator(mode="after")
    def _windows(self) -> BuiltinAutoscaler:
        if duration_seconds(self.panic_window) >= duration_seconds(self.stable_window):
            raise FieldError("panicWindow", f"must be shorter than stableWindow ({self.panic_window} ≥ "
                                            f"{self.stable_window})")
        if duration_seconds(self.tick) > duration_seconds(self.panic_window):
            raise FieldError("tick", f"must not be longer than panicWindow ({self.tick} > {self.panic_window})")
        if duration_seconds(self.tick) < 0.5:
            raise FieldError("tick", f"must be at least 500ms, not {self.tick}")
        return self

    def seconds(self, name: str) -> float:
        return duration_seconds(getattr(self, name))


# autoscaling/v2 HorizontalPodAutoscalerBehavior, field for field, with the API server's own bounds.

class HpaScalingPolicy(ApiModel):
    type: Literal["Pods", "Percent"]
    value: int = Field(ge=1, le=2**31 - 1, description="Pods, or percent of the current replicas.")
    period_seconds: int = Field(ge=1, le=1800, description="The window the policy's value applies over.")


class HpaScalingRules(ApiModel):
    stabilization_window_seconds: int | None = Field(
        default=None, ge=0, le=3600,
        description="Use the most conservative recommendation over this window (scale-down default 300).")
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[HpaScalingPolicy] | None = Field(
        default=None, max_length=10, json_schema_extra={"x-kubernetes-list-type": "atomic"})


class HpaBehavior(ApiModel):
    """Passed through to the HorizontalPodAutoscaler's spec.behavior (engines hpa and keda)."""

    scale_up: HpaScalingRules | None = None
    scale_down: HpaScalingRules | None = None


__all__ = ["BuiltinAutoscaler", "HpaBehavior", "HpaScalingPolicy", "HpaScalingRules", "duration_seconds"]
