"""Triton python-backend model serving a TorchScript file next to it.

`modeldeploy package` copies this file as model.py beside model.pt. It is the
serving path where Triton's libtorch backend is absent (local serving, slim
images). Requests that dynamic batching hands over together run as one
forward pass, which is where batching pays off.
"""

import json
import os

import numpy as np
import torch
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        torch.set_num_threads(int(os.environ.get("MODELDEPLOY_TORCH_THREADS", "1")))
        self.model = torch.jit.load(os.path.join(version_dir, "model.pt"), map_location="cpu").eval()
        self.inputs = [tensor["name"] for tensor in config["input"]]
        self.outputs = [
            (tensor["name"], pb_utils.triton_string_to_numpy(tensor["data_type"])) for tensor in config["output"]
        ]

    def execute(self, requests):
        # One forward pass for everything dynamic batching handed over; per
        # request only numpy views are made (no torch ops, no per-slice casts),
        # since per-request work is what a CPU-bound server pays most for.
        arrays = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests] for name in self.inputs]
        batch = [torch.from_numpy(np.concatenate(per_input)) for per_input in arrays]
        with torch.inference_mode():
            result = self.model(*batch)
        results = result if isinstance(result, (tuple, list)) else (result,)
        outputs = [(name, out.numpy().astype(dtype, copy=False)) for (name, dtype), out in zip(self.outputs, results)]
        responses, start = [], 0
        for first_input in arrays[0]:
            end = start + first_input.shape[0]
            tensors = [pb_utils.Tensor(name, out[start:end]) for name, out in outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = end
        return responses
