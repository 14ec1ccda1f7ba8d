"""The ModelDeployment resource: serving.modeldeploy.io/v1alpha1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, model_validator

from .auth import Auth
from .base import DNS1123_LABEL, ApiModel, FieldError, cel_rules, cross_field_rules
from .k8s_names import key_problem, label_value_problem
from .rules import error_details
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


# Every field of a Kubernetes ObjectMeta. Objects read from a cluster carry the
# server-set ones, so they are accepted and ignored; any other key is a typo
# that would otherwise vanish (metadata.namspace would deploy into "default").
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})


class ObjectMeta(ApiModel):
    # Objects read from a cluster carry many server-set fields; only these matter here.
    model_config = ApiModel.model_config | ConfigDict(extra="ignore", strict=False)

    @model_validator(mode="wrap")
    @classmethod
    def _no_unknown_keys(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        unknown = [{"type": "extra_forbidden", "loc": (key,), "input": data[key]}
                   for key in (data if isinstance(data, dict) else ()) if key not in OBJECT_META_FIELDS]
        try:
            meta = handler(data)
        except ValidationError as failed:
            raise ValidationError.from_exception_data(cls.__name__, unknown + error_details(failed)) from None
        if unknown:
            raise ValidationError.from_exception_data(cls.__name__, unknown)
        return meta

    name: str = Field(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)
    namespace: str = Field(default="default", pattern=DNS1123_LABEL, max_length=63)
    generation: int | None = None
    uid: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    @cross_field_rules
    def _keys_kubernetes_accepts(self) -> Iterator[FieldError]:
        # The key goes into the message, not the path: "app.kubernetes.io/name" would read as nested fields.
        for key, value in self.labels.items():
            problem = key_problem(key) or label_value_problem(key, value)
            if problem:
                yield FieldError("labels", problem)
        for key in self.annotations:
            problem = key_problem(key)
            if problem:
                yield FieldError("annotations", problem)


class ModelDeploymentSpec(ApiModel):
    model: ModelSpec
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec)
    replicas: int = Field(
        default=1, ge=0, le=1000,
        description="Desired replicas in all, whatever the revisions (the scale subresource: kubectl scale and "
                    "every autoscaler engine set it). With spec.autoscaling it is kept within minReplicas and "
                    "maxReplicas.",
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
            {"rule": "!has(self.rollout) || !has(self.rollout.strategy) || self.rollout.strategy != 'BlueGreen' || "
                     "(has(self.rollout.maxSurge) ? self.rollout.maxSurge : 1) >= "
                     "(has(self.autoscaling) ? self.autoscaling.maxReplicas : (has(self.replicas) ? self.replicas : 1))",
             "message": "BlueGreen runs a full second copy: rollout.maxSurge must be >= replicas "
                        "(autoscaling.maxReplicas when autoscaled)"},
        )
    }

    @model_validator(mode="after")
    @cross_field_rules
    def _blue_green_fits_the_budget(self) -> Iterator[FieldError]:
        rollout = self.rollout
        copies = self.autoscaling.max_replicas if self.autoscaling else self.replicas
        if rollout.strategy == "BlueGreen" and rollout.max_surge < copies:
            resources = self.runtime.resources
            per_pod = resources.gpus if resources.gpus else (1 if resources.mig_profile else 0)
            cost = f" ({copies * per_pod} {'MIG slices' if resources.mig_profile else 'GPUs'})" if per_pod else ""
            what = "autoscaling.maxReplicas" if self.autoscaling else "replicas"
            yield FieldError(
                "rollout.maxSurge",
                f"BlueGreen needs {copies} extra pods{cost} for its full preview copy ({what}: {copies}); "
                f"maxSurge is {rollout.max_surge}: raise maxSurge to {copies}, or use strategy Canary, which fits "
                "in the surge",
            )

    @model_validator(mode="after")
    @cross_field_rules
    def _model_fits_runtime(self) -> Iterator[FieldError]:
        config = self.model.config
        if config is None:
            return
        if config.optimization and config.optimization.tensorrt and self.model.format != "onnx":
            yield FieldError("model.config.optimization.tensorrt",
                             f"accelerates onnx models only, not {self.model.format}; remove it")
        has_gpu = self.runtime.resources.gpus > 0 or self.runtime.resources.mig_profile is not None
        for index, group in enumerate(config.instance_groups):
            if group.kind == "GPU" and not has_gpu:
                yield FieldError(
                    f"model.config.instanceGroups[{index}].kind",
                    "GPU instances need a GPU: set runtime.resources.gpus or migProfile, or use kind CPU",
                )


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
