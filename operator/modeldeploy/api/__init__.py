"""The typed ModelDeployment API. Pure pydantic: imports nothing of Kubernetes."""

from .auth import API_KEY_ENV, API_KEY_SECRET_KEY, Auth
from .base import ApiModel, FieldError
from .problems import InvalidSpec, Problem, parse_model_deployment, problems_from
from .model import ModelSpec, TensorSpec, TritonModelConfig
from .policies import Autoscaling, NetworkPolicySpec, Rollout
from .resource import (
    API_VERSION, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION,
    ModelDeployment, ModelDeploymentSpec, ObjectMeta,
)
from .runtime import Resources, RuntimeSpec
from .storage import StorageSpec
from .status import AnalysisFigures, AutoscalingStatus, Condition, ModelDeploymentStatus, RevisionStatus, RolloutStatus

__all__ = [
    "API_KEY_ENV", "API_KEY_SECRET_KEY", "Auth", "StorageSpec",
    "API_VERSION", "GROUP", "KIND", "PLURAL", "SHORT_NAMES", "SINGULAR", "VERSION",
    "ApiModel", "Autoscaling", "AutoscalingStatus", "InvalidSpec", "Problem", "parse_model_deployment", "problems_from", "Condition", "FieldError", "ModelDeployment", "ModelDeploymentSpec",
    "ModelDeploymentStatus", "ModelSpec", "NetworkPolicySpec", "ObjectMeta", "Resources",
    "AnalysisFigures", "RevisionStatus", "RolloutStatus", "Rollout", "RuntimeSpec", "TensorSpec", "TritonModelConfig",
]
