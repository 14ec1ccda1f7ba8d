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
        arrays = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs] for r in requests]
        sizes = [request_arrays[0].shape[0] for request_arrays in arrays]
        batch = [torch.from_numpy(np.concatenate([a[i] for a in arrays])) for i in range(len(self.inputs))]
        with torch.inference_mode():
            result = self.model(*batch)
        results = result if isinstance(result, (tuple, list)) else (result,)
        responses, start = [], 0
        for size in sizes:
            tensors = [
                pb_utils.Tensor(name, out[start:start + size].numpy().astype(dtype, copy=False))
                for (name, dtype), out in zip(self.outputs, results)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
