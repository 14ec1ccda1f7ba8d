"""config.pbtxt from spec.model, through Triton's own model_config.proto.

Filling the real protobuf message means Triton's text format, field names and
enum spellings come from Triton itself, and anything the proto does not know
fails here rather than at model load.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from google.protobuf import text_format

from ..api import ModelDeployment, TensorSpec


def _model_config_proto() -> ModuleType:
    """tritonclient's generated model_config_pb2, without importing the tritonclient.grpc package.

    That package's __init__ pulls in grpc and numpy (~27 MiB) that building a
    config never needs; the operator's idle memory pays for every import.
    """
    name = "tritonclient.grpc.model_config_pb2"
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("tritonclient")
    assert package is not None and package.submodule_search_locations, "tritonclient is not installed"
    path = f"{list(package.submodule_search_locations)[0]}/grpc/model_config_pb2.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a later `import tritonclient.grpc` reuses it: one descriptor registration
    spec.loader.exec_module(module)
    return module


mc = _model_config_proto()

# How each format is served: (field, value) of config.pbtxt, and the file name
# Triton looks for inside a version directory.
FORMAT_BACKENDS = {
    "onnx": ("backend", "onnxruntime", "model.onnx"),
    "torchscript": ("backend", "pytorch", "model.pt"),
    "tensorrt": ("platform", "tensorrt_plan", "model.plan"),
    "python": ("backend", "python", "model.py"),
    "savedmodel": ("platform", "tensorflow_savedmodel", "model.savedmodel"),
}
_KINDS = {"GPU": mc.ModelInstanceGroup.KIND_GPU, "CPU": mc.ModelInstanceGroup.KIND_CPU,
          "AUTO": mc.ModelInstanceGroup.KIND_AUTO}


def default_model_filename(fmt: str) -> str:
    return FORMAT_BACKENDS[fmt][2]


def build_model_config(md: ModelDeployment) -> mc.ModelConfig:
    spec = md.spec.model
    field, value, _ = FORMAT_BACKENDS[spec.format]
    config = mc.ModelConfig(name=md.model_name, **{field: value})
    declared = spec.config
    if declared is None:
        return config
    config.max_batch_size = declared.max_batch_size
    for tensor in declared.inputs:
        _fill_tensor(config.input.add(), tensor)
    for tensor in declared.outputs:
        _fill_tensor(config.output.add(), tensor)
    if declared.dynamic_batching is not None:
        db = declared.dynamic_batching
        config.dynamic_batching.preferred_batch_size.extend(db.preferred_batch_sizes)
        config.dynamic_batching.max_queue_delay_microseconds = db.max_queue_delay_microseconds
        config.dynamic_batching.preserve_ordering = db.preserve_ordering
    for group in declared.instance_groups:
        config.instance_group.add(kind=_KINDS[group.kind], count=group.count, gpus=group.gpus or [])
    if declared.version_policy is not None:
        policy = declared.version_policy
        if policy.policy == "All":
            config.version_policy.all.SetInParent()
        elif policy.policy == "Specific":
            config.version_policy.specific.versions.extend(policy.versions or [])
        else:
            config.version_policy.latest.num_versions = policy.num_versions or 1
    for key, val in sorted(declared.parameters.items()):
        config.parameters[key].string_value = val
    if declared.optimization is not None:
        _fill_optimization(config.optimization, declared.optimization)
    return config


def render_model_config(md: ModelDeployment) -> str:
    """The config.pbtxt text."""
    return text_format.MessageToString(build_model_config(md))


def _fill_tensor(target, tensor: TensorSpec) -> None:  # noqa: ANN001 - ModelInput or ModelOutput
    target.name = tensor.name
    target.data_type = mc.DataType.Value(f"TYPE_{tensor.data_type}")
    target.dims.extend(tensor.dims)
    if tensor.reshape is not None:
        target.reshape.SetInParent()  # present even when empty: reshape { } is one value per sample
        target.reshape.shape.extend(tensor.reshape)
    if tensor.optional:
        target.optional = True


def _fill_optimization(target: mc.ModelOptimizationPolicy, opt) -> None:  # noqa: ANN001
    if opt.cuda_graphs is not None:
        target.cuda.graphs = opt.cuda_graphs
    if opt.input_pinned_memory is not None:
        target.input_pinned_memory.enable = opt.input_pinned_memory
    if opt.output_pinned_memory is not None:
        target.output_pinned_memory.enable = opt.output_pinned_memory
    if opt.tensorrt is not None:
        accelerator = target.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
        accelerator.parameters["precision_mode"] = opt.tensorrt
