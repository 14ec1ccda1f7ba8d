"""status: what the operator observed, written by the operator alone."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from .base import ApiModel

ConditionType = Literal["Ready", "Progressing", "Degraded"]


class Condition(ApiModel):
    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: str = Field(description="RFC 3339 time the status last flipped.")
    observed_generation: int | None = Field(default=None, ge=0)


class RevisionStatus(ApiModel):
    version: str
    weight: int = Field(ge=0, le=100, description="Percent of traffic this revision receives.")
    replicas: int = Field(default=0, ge=0)
    ready_replicas: int = Field(default=0, ge=0)
    analysis: Literal["Pending", "Passing", "Failing"] | None = None


class AutoscalingStatus(ApiModel):
    """What the autoscaler saw and decided last; written by the operator for kubectl and dashboards."""

    model_config = ApiModel.model_config | ConfigDict(strict=False)

    engine: Literal["builtin", "hpa", "keda"]
    metric: str
    current_value: str | None = Field(
        default=None, description='The metric now, in its unit: "180ms" for queueTime, "3.5" per replica otherwise.')
    target: str
    desired_replicas: int | None = Field(default=None, ge=0)
    last_scale_time: str | None = Field(default=None, description="RFC 3339 time of the last write to /scale.")
    capacity_per_replica: float | None = Field(
        default=None, ge=0,
        description="Requests/s one replica completed while its queue time was over target (builtin engine): "
                    "scale-down never goes below what this serves at 80%.")
    mode: Literal["Stable", "Panic"] | None = None
    reason: str | None = Field(default=None, pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=128)
    message: str = Field(default="", max_length=4096)


class ModelDeploymentStatus(ApiModel):
    # Status is read back from the cluster, so it is parsed leniently.
    model_config = ApiModel.model_config | ConfigDict(strict=False)

    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(
        default_factory=list, max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    url: str | None = Field(default=None, description="HTTP endpoint of the model (KServe v2 protocol).")
    grpc_address: str | None = None
    replicas: int | None = Field(default=None, ge=0)
    ready_replicas: int | None = Field(default=None, ge=0)
    selector: str | None = Field(default=None, description="Label selector of the pods, for the scale subresource.")
    traffic: str | None = Field(default=None, description='Traffic split for kubectl get, e.g. "v3=90,v4=10".')
    revisions: list[RevisionStatus] = Field(default_factory=list, max_length=8)
    autoscaling: AutoscalingStatus | None = None
