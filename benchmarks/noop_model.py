"""A python-backend model that computes nothing: the serving path's own cost.

Same tensors as the benchmark's MLP, zeros out, no torch. What Triton and
the python backend spend per request with this model is the floor under any
model served the same way: its throughput on one core bounds how close a
real model can come to its compute limit.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input = config["input"][0]["name"]
        self.outputs = [(t["name"], [int(d) for d in t["dims"]], pb_utils.triton_string_to_numpy(t["data_type"]))
                        for t in config["output"]]

    def execute(self, requests):
        responses = []
        for request in requests:
            rows = pb_utils.get_input_tensor_by_name(request, self.input).as_numpy().shape[0]
            tensors = [pb_utils.Tensor(name, np.zeros([rows, *dims], dtype)) for name, dims, dtype in self.outputs]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
