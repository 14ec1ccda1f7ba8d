"""status: what the operator observed, written by the operator alone."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from .base import ApiModel

ConditionType = Literal["Ready", "Progressing", "Degraded", "ScalingLimited"]


class Condition(ApiModel):
    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: str = Field(description="RFC 3339 time the status last flipped.")
    observed_generation: int | None = Field(default=None, ge=0)


class AnalysisFigures(ApiModel):
    """The last judged interval of a revision, from Triton's own metrics."""

    model_config = ApiModel.model_config | ConfigDict(strict=False)

    requests: int = Field(default=0, ge=0)
    error_ratio: float | None = Field(default=None, ge=0.0)
    mean_latency_ms: float | None = Field(default=None, ge=0.0)
    p99_latency_ms: float | None = Field(default=None, ge=0.0)
    stable_mean_latency_ms: float | None = Field(default=None, ge=0.0)
    queue_ms: float | None = Field(default=None, ge=0.0)


class RevisionStatus(ApiModel):
    model_config = ApiModel.model_config | ConfigDict(strict=False)

    name: str = Field(description='The revision\'s name, its Deployment\'s suffix ("v3", or "v3-2" for a second '
                                  "revision of version 3).")
    revision: int = Field(default=0, ge=0, description="Its number, for `modeldeploy rollout undo --to-revision`.")
    version: str
    role: Literal["Stable", "Canary", "Preview", "Aborted", "Superseded", "Old"] = "Old"
    weight: int = Field(ge=0, le=100, description="Percent of traffic this revision receives now.")
    desired_weight: int | None = Field(default=None, ge=0, le=100, description="Percent the rollout step asks.")
    replicas: int = Field(default=0, ge=0)
    ready_replicas: int = Field(default=0, ge=0)
    analysis: Literal["Pending", "Passing", "Failing", "Inconclusive"] | None = None
    figures: AnalysisFigures | None = None


class RolloutStatus(ApiModel):
    """Where the rollout stands: the state the operator resumes from after a restart."""

    model_config = ApiModel.model_config | ConfigDict(strict=False)

    phase: Literal["Stable", "Progressing", "Paused", "Aborted"] = "Stable"
    stable: str | None = Field(default=None, description="The revision serving before (and unless) the rollout.")
    canary: str | None = Field(default=None, description="The revision rolling out (the preview for BlueGreen).")
    step: int | None = Field(default=None, ge=0, description="Index of the step the rollout is at.")
    step_started_at: str | None = None
    paused_at: str | None = Field(default=None, description="When spec.rollout.paused held the rollout: the "
                                                            "progressDeadline does not run while paused.")
    step_reached_at: str | None = Field(default=None, description="When the step's pods were all serving.")
    started_at: str | None = None
    failed_intervals: int = Field(default=0, ge=0)
    inconclusive_intervals: int = Field(default=0, ge=0)
    passed_intervals: int = Field(default=0, ge=0)
    last_interval: str | None = Field(default=None, description="End of the last judged analysis interval.")
    aborted_hash: str | None = Field(default=None, description="Pod template of an aborted revision: not retried.")
    aborted_reason: str | None = None
    aborted_at: str | None = None
    aborted_failing: bool | None = Field(
        default=None, description="The aborted revision failed (its pods, or the analysis): its pods leave at "
                                  "once. Otherwise (a request, a deadline) they leave within the GPU budget.")
    last_request: str | None = Field(default=None, description="The last promote/abort/retry request handled.")
    switched_at: str | None = Field(default=None, description="BlueGreen: when traffic moved to the new revision.")
    previous: str | None = Field(default=None, description="BlueGreen: the revision kept warm after the switch.")
    outage_started_at: str | None = None
    outage_seconds: float | None = Field(default=None, ge=0.0, description="Recreate: time with no pod serving.")
    message: str = ""


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
    revisions: list[RevisionStatus] = Field(default_factory=list, max_length=16)
    rollout: RolloutStatus | None = None
    autoscaling: AutoscalingStatus | None = None
