"""The ModelDeployment resource: serving.modeldeploy.io/v1alpha1."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from .auth import Auth
from .base import ApiModel, FieldError, cel_rules
from .model import ModelSpec
from .policies import Autoscaling, NetworkPolicySpec, Rollout
from .runtime import RuntimeSpec
from .status import ModelDeploymentStatus

GROUP = "serving.modeldeploy.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ["md", "mdep"]

# Children are named <name>, <name>-metrics and <name>-v<version>: the name must
# be a DNS-1035 label short enough for all of them.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
MAX_NAME_LENGTH = 50


class ObjectMeta(ApiModel):
    # Objects read from a cluster carry many server-set fields; only these matter here.
    model_config = ApiModel.model_config | ConfigDict(extra="ignore", strict=False)

    name: str = Field(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)
    namespace: str = "default"
    generation: int | None = None
    uid: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ModelDeploymentSpec(ApiModel):
    model: ModelSpec
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec)
    replicas: int = Field(
        default=1, ge=0, le=1000,
        description="Desired replicas (the scale subresource). With spec.autoscaling, the autoscaler sets the "
                    "Deployment's replicas itself, starting from minReplicas.",
    )
    autoscaling: Autoscaling | None = None
    rollout: Rollout = Field(default_factory=Rollout)
    network_policy: NetworkPolicySpec = Field(default_factory=NetworkPolicySpec)
    auth: Auth | None = Field(default=None, description="Require an API key for inference (no mesh needed).")

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.model.config) || !has(self.model.config.instanceGroups) || "
                     "!self.model.config.instanceGroups.exists(g, has(g.kind) && g.kind == 'GPU') || "
                     "(has(self.runtime) && has(self.runtime.resources) && "
                     "((has(self.runtime.resources.gpus) && self.runtime.resources.gpus > 0) || "
                     "has(self.runtime.resources.migProfile)))",
             "message": "instance groups of kind GPU need runtime.resources.gpus > 0 or a migProfile"},
            {"rule": "!has(self.model.config) || !has(self.model.config.optimization) || "
                     "!has(self.model.config.optimization.tensorrt) || self.model.format == 'onnx'",
             "message": "model.config.optimization.tensorrt accelerates onnx models only"},
        )
    }

    @model_validator(mode="after")
    def _model_fits_runtime(self) -> ModelDeploymentSpec:
        config = self.model.config
        if config is None:
            return self
        has_gpu = self.runtime.resources.gpus > 0 or self.runtime.resources.mig_profile is not None
        for index, group in enumerate(config.instance_groups):
            if group.kind == "GPU" and not has_gpu:
                raise FieldError(
                    f"model.config.instanceGroups[{index}].kind",
                    "GPU instances need a GPU: set runtime.resources.gpus or migProfile, or use kind CPU",
                )
        if config.optimization and config.optimization.tensorrt and self.model.format != "onnx":
            raise FieldError("model.config.optimization.tensorrt",
                             f"accelerates onnx models only, not {self.model.format}; remove it")
        return self


class ModelDeployment(ApiModel):
    api_version: Literal["serving.modeldeploy.io/v1alpha1"] = API_VERSION
    kind: Literal["ModelDeployment"] = KIND
    metadata: ObjectMeta
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": f"self.metadata.name.matches('{NAME_PATTERN}') && size(self.metadata.name) <= {MAX_NAME_LENGTH}",
             "message": f"metadata.name must be a DNS-1035 label of at most {MAX_NAME_LENGTH} characters"},
        )
    }

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def model_name(self) -> str:
        """The Triton model name: spec.model.name, else metadata.name."""
        return self.spec.model.name or self.metadata.name
