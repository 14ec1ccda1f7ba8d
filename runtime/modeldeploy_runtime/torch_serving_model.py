"""Triton python-backend model serving a TorchScript file next to it.

`modeldeploy package` copies this file as model.py beside model.pt. It is the
serving path where Triton's libtorch backend is absent (local serving, slim
images), and it is exactly as strict as that backend about names, so a
config that serves here serves in the cluster:
- inputs bind to forward()'s arguments by name, or all follow the
  NAME__INDEX convention (INPUT__0, INPUT__1, ...) and bind by position;
- outputs follow NAME__INDEX, the position in what forward() returns.
A config that does neither fails to load, with the reason in Triton's log.
An output whose declared data type the model's cannot be cast to within its
kind (FP32 declared INT64) fails the request instead of sending truncated
numbers; FP64 served as FP32 is a conversion, and allowed.
Requests that dynamic batching hands over together run as one forward pass,
which is where batching pays off.
"""

import json
import os
import re

import numpy as np
import torch
import triton_python_backend_utils as pb_utils

_CONVENTION = re.compile(r"^.+__(\d+)$")
# Triton's data type of each numpy dtype a TorchScript output can have, for messages.
_TRITON_NAMES = {"bool": "BOOL", "uint8": "UINT8", "int8": "INT8", "int16": "INT16", "int32": "INT32",
                 "int64": "INT64", "float16": "FP16", "float32": "FP32", "float64": "FP64"}


def bind_inputs(declared, arguments):
    """The declared input names in the order forward() takes them; raises ValueError on a mismatch."""
    if set(declared) == set(arguments):
        return list(arguments)
    indices = [_CONVENTION.match(name) for name in declared]
    if all(indices) and sorted(int(m[1]) for m in indices) == list(range(len(arguments))):
        return sorted(declared, key=lambda name: int(_CONVENTION.match(name)[1]))
    unknown = [name for name in declared if name not in arguments]
    missing = [name for name in arguments if name not in declared]
    raise ValueError(
        f"config inputs {declared} do not match forward({', '.join(arguments)}): "
        + (f"{', '.join(unknown)} is no argument of forward(); " if unknown else "")
        + (f"forward() also needs {', '.join(missing)}; " if missing else "")
        + f"name the inputs {', '.join(arguments)}, or INPUT__0..INPUT__{len(arguments) - 1} in forward()'s order "
        "(Triton's libtorch backend accepts nothing else)"
    )


def output_positions(declared):
    """The position in forward()'s result of each declared output; raises ValueError on a bad name."""
    positions = []
    for name in declared:
        match = _CONVENTION.match(name)
        if match is None:
            raise ValueError(f"output {name!r} does not follow Triton's NAME__INDEX convention for TorchScript "
                             "outputs: name it OUTPUT__<i>, i its position in what forward() returns")
        positions.append(int(match[1]))
    return positions


def as_declared(name, array, declared):
    """array as the config's data_type (TYPE_INT64); raises ValueError when that would change its values.

    Within a kind (float64 as FP32, int32 as INT64) the cast keeps the values; across kinds (float32 as
    INT64) it truncates them, and a wrong dataType would answer plausible-looking zeros instead of failing.
    """
    dtype = pb_utils.triton_string_to_numpy(declared)
    if not np.can_cast(array.dtype, dtype, casting="same_kind"):
        model_type = _TRITON_NAMES.get(array.dtype.name, str(array.dtype))
        raise ValueError(f"output {name} is declared {declared.removeprefix('TYPE_')} but the model returns "
                         f"{model_type}, which cannot be converted without changing its values: set the dataType "
                         f"of {name} in spec.model.config.outputs to {model_type}, the model's type")
    return array.astype(dtype, copy=False)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        torch.set_num_threads(int(os.environ.get("MODELDEPLOY_TORCH_THREADS", "1")))
        self.model = torch.jit.load(os.path.join(version_dir, "model.pt"), map_location="cpu").eval()
        arguments = [a.name for a in self.model.forward.schema.arguments[1:]]
        self.inputs = bind_inputs([tensor["name"] for tensor in config["input"]], arguments)
        self.outputs = [
            (tensor["name"], position, tensor["data_type"])
            for tensor, position in zip(config["output"], output_positions([t["name"] for t in config["output"]]))
        ]

    def execute(self, requests):
        # One forward pass for everything dynamic batching handed over; per
        # request only numpy views are made (no torch ops, no per-slice casts),
        # since per-request work is what a CPU-bound server pays most for.
        arrays = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests] for name in self.inputs]
        batch = [torch.from_numpy(np.concatenate(per_input)) for per_input in arrays]
        try:
            with torch.inference_mode():
                result = self.model(*batch)
        except Exception as err:  # noqa: BLE001 - every request of the batch gets the model's own reason
            # TorchScript puts its own trace first; the last line is the reason. Raised, not returned as
            # error responses: Triton counts those as successes in nv_inference_request_success, and the
            # rollout analysis (and any dashboard) would see a failing model as a healthy one.
            reason = ([line.strip() for line in str(err).splitlines() if line.strip()] or [repr(err)])[-1]
            raise RuntimeError(re.sub(r"^\w+(Error|Exception): ", "", reason)) from None
        results = result if isinstance(result, (tuple, list)) else (result,)
        missing = [name for name, position, _ in self.outputs if position >= len(results)]
        if missing:
            raise RuntimeError(f"forward() returned {len(results)} tensor(s); no output at the "
                               f"position of {', '.join(missing)}")
        outputs = [(name, as_declared(name, results[position].numpy(), declared))
                   for name, position, declared in self.outputs]
        responses, start = [], 0
        for first_input in arrays[0]:
            end = start + first_input.shape[0]
            tensors = [pb_utils.Tensor(name, out[start:end]) for name, out in outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = end
        return responses

