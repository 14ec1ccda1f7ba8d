"""spec.runtime: the Triton container, its resources and where it may run.

Only fields that cannot weaken the pod's security are exposed: there is no
privileged, hostPath, hostNetwork or serviceAccountName passthrough, and extra
Triton arguments come from an allow-list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .affinity import affinity_problem, affinity_schema
from .auth import API_KEY_ENV
from .base import DNS1123_SUBDOMAIN, ApiModel, FieldError, Quantity, cel_rules, cross_field_rules
from .image_reference import IMAGE_REFERENCE_PATTERN, image_reference_problem
from .mig import KNOWN_MIG_PROFILES, mig_profile_problem

DEFAULT_TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"

# Tuning flags only; everything that touches ports, addresses, the model
# repository, model control or the restricted APIs is set by the operator.
SAFE_TRITON_ARGS = (
    "log-verbose", "log-info", "log-warning", "log-error", "log-format",
    "pinned-memory-pool-byte-size", "cuda-memory-pool-byte-size", "backend-config",
    "cache-config", "response-cache-byte-size", "rate-limit", "rate-limit-resource",
    "model-load-thread-count", "buffer-manager-thread-count", "metrics-interval-ms",
)
_ARG = re.compile(r"^--(?P<flag>[a-z-]+)=.+$")
# The loader's variables would change what code runs; the API key's is filled from spec.auth's Secret.
RESERVED_ENV = ("LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", API_KEY_ENV)
MAX_AFFINITY_BYTES = 64 * 1024


class Resources(ApiModel):
    gpus: int = Field(default=0, ge=0, le=16, description="Whole GPUs per replica (nvidia.com/gpu).")
    gpu_product: str | None = Field(
        default=None, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Pin to nodes whose nvidia.com/gpu.product label has this value, e.g. NVIDIA-H100-80GB-HBM3.",
    )
    # Checked against NVIDIA's published profiles (mig.py); the CRD carries them as an enum.
    mig_profile: str | None = Field(
        default=None, max_length=32, json_schema_extra={"enum": list(KNOWN_MIG_PROFILES)},
        description="A MIG slice per replica instead of whole GPUs, e.g. 1g.10gb (nvidia.com/mig-1g.10gb); "
                    "a profile of NVIDIA's MIG user guide, with '+' written '.' (1g.10gb.me).",
    )
    cpu: Quantity = Field(default="2", description="CPU request.")
    memory: Quantity = Field(default="4Gi", description="Memory request and limit.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!(has(self.migProfile) && has(self.gpus) && self.gpus > 0)",
             "message": "set either gpus (whole GPUs) or migProfile (a MIG slice), not both"},
            {"rule": "!has(self.gpuProduct) || (has(self.gpus) && self.gpus > 0) || has(self.migProfile)",
             "message": "gpuProduct needs gpus > 0 or a migProfile"},
        )
    }

    @model_validator(mode="after")
    @cross_field_rules
    def _one_kind_of_gpu(self) -> Iterator[FieldError]:
        if self.mig_profile is not None and self.gpus > 0:
            yield FieldError("migProfile", f"set either gpus ({self.gpus}) or migProfile, not both; remove one")
        if self.gpu_product is not None and self.gpus == 0 and self.mig_profile is None:
            yield FieldError("gpuProduct", "needs gpus > 0 or a migProfile; request a GPU or remove gpuProduct")
        if self.mig_profile is not None:
            problem = mig_profile_problem(self.mig_profile, self.gpu_product)
            if problem:
                yield FieldError("migProfile", problem)


class Toleration(ApiModel):
    key: str | None = Field(default=None, max_length=316)
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = Field(default=None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, ge=0)


class EnvVar(ApiModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)
    value: str = Field(max_length=4096)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_ENV:
            raise ValueError(f"{name} is reserved: it would change what code the server loads"
                             if name != API_KEY_ENV else f"{name} is reserved: spec.auth.apiKeySecret fills it")
        return name


class RuntimeSpec(ApiModel):
    image: str = Field(
        default=DEFAULT_TRITON_IMAGE, min_length=1, max_length=512,
        json_schema_extra={"pattern": IMAGE_REFERENCE_PATTERN},
        description="Triton server image, REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]. Pin a digest "
                    "(@sha256:...) in production: a tag can be moved to other bytes.",
    )
    image_pull_secrets: list[Annotated[str, Field(pattern=DNS1123_SUBDOMAIN, max_length=253)]] = Field(
        default_factory=list, max_length=8, description="Names of Secrets used to pull the images.",
    )
    resources: Resources = Field(default_factory=Resources)
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict, max_length=32, description="Node labels the pods require (label keys and values).",
    )
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    affinity: dict[str, Any] | None = Field(
        default=None, description="A core/v1 Affinity, passed to the pod as is.",
        json_schema_extra=affinity_schema(),
    )
    priority_class_name: str | None = Field(default=None, max_length=253, pattern=DNS1123_SUBDOMAIN)
    args: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list, max_length=32,
        description="Extra Triton flags as --flag=value, from: " + ", ".join(SAFE_TRITON_ARGS) + ".",
    )
    env: list[EnvVar] = Field(default_factory=list, max_length=64)

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.image) || !self.image.matches('\\\\s')",
             "message": "image: an image reference holds no whitespace or newline"},
        )
    }

    @field_validator("image")
    @classmethod
    def _image_reference(cls, image: str) -> str:
        problem = image_reference_problem(image)
        if problem:
            raise ValueError(problem)
        return image

    @field_validator("affinity")
    @classmethod
    def _affinity_size(cls, affinity: dict[str, Any] | None) -> dict[str, Any] | None:
        # Free-form, so bounded by size: it is copied into every pod template.
        size = len(json.dumps(affinity, separators=(",", ":"))) if affinity else 0
        if size > MAX_AFFINITY_BYTES:
            raise ValueError(f"is {size // 1024} KiB; the limit is {MAX_AFFINITY_BYTES // 1024} KiB "
                             "(a real affinity is a few hundred bytes)")
        if affinity and (problem := affinity_problem(affinity)):
            raise ValueError(problem)
        return affinity

    @field_validator("args")
    @classmethod
    def _safe_args(cls, args: list[str]) -> list[str]:
        for arg in args:
            match = _ARG.match(arg)
            if not match:
                raise ValueError(f"{arg!r} is not of the form --flag=value")
            if match["flag"] not in SAFE_TRITON_ARGS:
                raise ValueError(
                    f"--{match['flag']} is set by the operator or not allowed; allowed flags: "
                    + ", ".join(SAFE_TRITON_ARGS)
                )
        return args
