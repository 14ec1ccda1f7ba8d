"""spec.model: what to serve, where it comes from, and its Triton model config."""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator

from .base import DNS1123_SUBDOMAIN, ApiModel, FieldError, cel_rules, cross_field_rules
from .storage import STORAGE_CEL_RULES, StorageSpec, source_problems, uri_credentials_problem

URI_SCHEMES = ("file", "pvc", "http", "https", "s3", "gs")
ModelFormat = Literal["onnx", "torchscript", "tensorrt", "python", "savedmodel"]

# Triton's data types (model_config.proto DataType without the TYPE_ prefix).
DataType = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BF16", "STRING",
]

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
TENSOR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$"

_TRAVERSAL = re.compile(r"(^|/)\.\.(/|$)")


def check_model_uri(uri: str) -> str:
    """Reject what no fetcher should ever see: unknown schemes, traversal, empty parts."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in URI_SCHEMES:
        if len(scheme) == 1 and uri[1:2] == ":":  # C:\models\m.onnx: a drive letter, read as a scheme
            raise ValueError("is a Windows path; a model on this machine is a file:// URI with forward slashes "
                             "(file:///models/m.onnx, or file://m.onnx beside the YAML file)")
        raise ValueError(
            f"unsupported scheme {parts.scheme + '://' if parts.scheme else '(none)'}; "
            "use file://, pvc://, http://, https://, s3:// or gs://"
        )
    if _TRAVERSAL.search(unquote(parts.path)) or "\\" in uri:
        raise ValueError("path traversal ('..' or '\\') is not allowed; give the model's direct path")
    credentials = uri_credentials_problem(uri)
    if credentials:
        raise ValueError(credentials)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError("file URIs are file:///absolute/path, or file:relative/path next to the YAML file")
        if not parts.path or parts.path == "/":
            raise ValueError("file URI names no path")
        return uri
    if not parts.netloc:
        what = {"pvc": "claim name", "s3": "bucket", "gs": "bucket"}.get(scheme, "host")
        raise ValueError(f"{scheme}:// URI has no {what}")
    if scheme in ("pvc", "s3", "gs") and posixpath.normpath(parts.path or "/") == "/":
        raise ValueError(f"{scheme}:// URI names no object path after the {parts.netloc!r} part")
    if scheme == "pvc" and not re.match(DNS1123_SUBDOMAIN, parts.netloc):
        raise ValueError(f"pvc:// claim name {parts.netloc!r} is not a valid PersistentVolumeClaim name")
    return uri


Dim = Annotated[int, Field(ge=-1)]


class TensorSpec(ApiModel):
    name: str = Field(pattern=TENSOR_NAME_PATTERN, description="Tensor name as the model declares it.")
    data_type: DataType = Field(description="Triton data type, e.g. FP32, INT64, STRING.")
    dims: list[Dim] = Field(
        min_length=1, max_length=8,
        description="Shape without the batch dimension; -1 marks a variable-size dimension.",
    )
    # Triton's rule: every tensor has at least one dimension besides the batch. A model
    # that takes or returns one value per sample (shape [batch]) declares dims: [1] and
    # reshape: [] (the shape the model itself sees); requests and responses are [batch, 1].
    reshape: list[Dim] | None = Field(
        default=None, max_length=8,
        description="The shape the model sees, when it differs from dims: [] for one value per sample.",
    )
    optional: bool | None = Field(default=None, description="Inputs only: the request may omit it.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "self.dims.all(d, d != 0)",
             "message": "a dimension of 0 is not allowed; use -1 for variable size or a positive size"},
        )
    }

    @field_validator("dims", mode="before")
    @classmethod
    def _not_empty(cls, dims: object) -> object:
        if dims == []:
            raise ValueError("is empty, and Triton needs at least one dimension: declare one value per sample "
                             "as dims: [1] with reshape: []")
        return dims

    @field_validator("dims")
    @classmethod
    def _no_zero_dims(cls, dims: list[int]) -> list[int]:
        if 0 in dims:
            raise ValueError("a dimension of 0 is not allowed; use -1 for variable size or a positive size")
        return dims

    @model_validator(mode="after")
    @cross_field_rules
    def _reshape_keeps_size(self) -> Iterator[FieldError]:
        if self.reshape is None or -1 in self.dims or -1 in self.reshape:
            return
        if math.prod(self.dims) != math.prod(self.reshape):
            yield FieldError("reshape", f"{self.reshape} holds {math.prod(self.reshape)} values per sample, dims "
                                        f"{self.dims} hold {math.prod(self.dims)}; a reshape keeps the size")


def _tensor_list(description: str):  # noqa: ANN202 - a pydantic Field
    # Kubernetes enforces unique names itself when the list is a map keyed by name.
    return Field(
        default_factory=list, max_length=64, description=description,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class DynamicBatching(ApiModel):
    max_queue_delay_microseconds: int = Field(default=0, ge=0, le=10_000_000)
    preferred_batch_sizes: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=16)
    preserve_ordering: bool = False


class InstanceGroup(ApiModel):
    kind: Literal["GPU", "CPU", "AUTO"] = "AUTO"
    count: int = Field(default=1, ge=1, le=64)
    gpus: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, max_length=16)

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.gpus) || self.kind == 'GPU'",
             "message": "gpus may only be set on an instance group of kind GPU"},
        )
    }

    @model_validator(mode="after")
    def _gpus_need_gpu_kind(self) -> InstanceGroup:
        if self.gpus is not None and self.kind != "GPU":
            raise FieldError("gpus", "may only be set on an instance group of kind GPU")
        return self


class VersionPolicy(ApiModel):
    policy: Literal["Latest", "All", "Specific"] = "Latest"
    num_versions: int | None = Field(default=None, ge=1, description="Latest only: how many versions.")
    versions: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, description="Specific only.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "self.policy == 'Specific' ? (has(self.versions) && size(self.versions) > 0) : !has(self.versions)",
             "message": "versions is required with policy Specific and not allowed otherwise"},
            {"rule": "!has(self.numVersions) || self.policy == 'Latest'",
             "message": "numVersions applies to policy Latest only"},
        )
    }

    @model_validator(mode="after")
    def _fields_match_policy(self) -> VersionPolicy:
        if self.policy == "Specific" and not self.versions:
            raise FieldError("versions", "required with policy Specific; list the versions to load")
        if self.policy != "Specific" and self.versions is not None:
            raise FieldError("versions", f"not allowed with policy {self.policy}; use policy Specific")
        if self.num_versions is not None and self.policy != "Latest":
            raise FieldError("numVersions", "applies to policy Latest only")
        return self


class Optimization(ApiModel):
    cuda_graphs: bool | None = Field(default=None, description="Capture CUDA graphs (GPU backends that support it).")
    input_pinned_memory: bool | None = None
    output_pinned_memory: bool | None = None
    tensorrt: Literal["FP32", "FP16", "INT8"] | None = Field(
        default=None, description="Accelerate an ONNX model with TensorRT at this precision.",
    )


class TritonModelConfig(ApiModel):
    """The fields of Triton's config.pbtxt that a ModelDeployment declares."""

    max_batch_size: int = Field(default=0, ge=0, le=1_048_576, description="0 disables Triton batching.")
    inputs: list[TensorSpec] = _tensor_list("Model inputs.")
    outputs: list[TensorSpec] = _tensor_list("Model outputs.")
    dynamic_batching: DynamicBatching | None = None
    instance_groups: list[InstanceGroup] = Field(default_factory=list, max_length=8)
    version_policy: VersionPolicy | None = None
    # Bounded: every entry lands in the revision's ConfigMap (Kubernetes stores at most 1 MiB per object).
    parameters: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=64, description="Backend parameters (string values).",
    )
    optimization: Optimization | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!has(self.dynamicBatching) || (has(self.maxBatchSize) && self.maxBatchSize > 0)",
             "message": "dynamicBatching needs maxBatchSize > 0"},
            {"rule": "!has(self.dynamicBatching) || !has(self.dynamicBatching.preferredBatchSizes) || "
                     "self.dynamicBatching.preferredBatchSizes.all(b, b <= self.maxBatchSize)",
             "message": "every preferredBatchSizes entry must be <= maxBatchSize"},
        )
    }

    @model_validator(mode="after")
    @cross_field_rules
    def _batching_consistent(self) -> Iterator[FieldError]:
        for field, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            names = [t.name for t in tensors]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                yield FieldError(field, f"duplicate tensor name {dupes[0]!r}; each name must be unique")
        for t in self.outputs:
            if t.optional is not None:
                yield FieldError("outputs", f"{t.name}: optional applies to inputs only")
        if self.dynamic_batching is None:
            return
        if self.max_batch_size == 0:
            yield FieldError("dynamicBatching", "needs maxBatchSize > 0; set maxBatchSize or remove dynamicBatching")
            return
        too_big = [b for b in self.dynamic_batching.preferred_batch_sizes if b > self.max_batch_size]
        if too_big:
            yield FieldError(
                "dynamicBatching.preferredBatchSizes",
                f"{too_big[0]} exceeds maxBatchSize {self.max_batch_size}; lower it or raise maxBatchSize",
            )


class ModelSpec(ApiModel):
    name: str | None = Field(
        default=None, pattern=MODEL_NAME_PATTERN,
        description="Triton model name; defaults to metadata.name. Immutable.",
    )
    # The pattern is for the CRD only: the validator below explains a bad scheme better.
    uri: str = Field(
        max_length=2048, json_schema_extra={"pattern": r"^(file:|pvc://|https?://|s3://|gs://)"},
        description="Where the model lives: file:, pvc://claim/path, http(s)://, s3://bucket/key, gs://bucket/key; "
                    "s3://bucket/prefix/ and gs://bucket/prefix/ (ending in /) fetch a whole folder.",
    )
    version: str = Field(
        pattern=r"^[1-9][0-9]{0,8}$",
        description='The Triton model version to serve, as a quoted number ("3"); changing it is a rollout.',
    )
    sha256: str | None = Field(default=None, pattern=r"^[a-f0-9]{64}$",
                               description="Expected sha256 of the artifact: one file or archive.")
    tree_sha256: str | None = Field(
        default=None, pattern=r"^[a-f0-9]{64}$",
        description="Expected digest of the fetched folder (a folder, an archive's contents or a single file), "
                    "as `modeldeploy digest DIR` prints it.",
    )
    storage: StorageSpec | None = Field(default=None, description="How the fetch container reaches the store.")
    format: ModelFormat
    config: TritonModelConfig | None = None

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel_rules(
            {"rule": "!self.uri.matches('(^|/)(\\\\.|%2[eE]){2}(/|$)')",
             "message": "uri: path traversal ('..') is not allowed"},
            {"rule": "has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",
             "message": "model.name is immutable; create a new ModelDeployment to serve a different model"},
            {"rule": "!has(self.config) || !has(self.config.versionPolicy) || !has(self.config.versionPolicy.versions)"
                     " || int(self.version) in self.config.versionPolicy.versions",
             "message": "config.versionPolicy.versions must include the served version"},
            *STORAGE_CEL_RULES,
        )
    }

    @model_validator(mode="after")
    @cross_field_rules
    def _source_consistent(self) -> Iterator[FieldError]:
        yield from source_problems(self.uri, self.sha256, self.tree_sha256, self.storage)
        policy = self.config.version_policy if self.config else None
        if policy is not None and policy.versions is not None and int(self.version) not in policy.versions:
            yield FieldError(
                "config.versionPolicy.versions",
                f"{policy.versions} does not include the served version {self.version}: Triton would not load it; "
                f"add {self.version}, or serve one of the listed versions",
            )

    @field_validator("uri")
    @classmethod
    def _uri(cls, uri: str) -> str:
        return check_model_uri(uri)

    @field_validator("version", mode="before")
    @classmethod
    def _quoted_version(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f'must be a string: quote it, version: "{value}"')
        return value
